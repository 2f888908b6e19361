"""The built-in monitors: disk usage of homes, and web traffic from access logs.

Registered as the plugin ``monitors`` (entry point), with the resources they feed and the
billing metrics made of those. Drivers add their own monitors the same way.
"""
