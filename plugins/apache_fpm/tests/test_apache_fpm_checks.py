"""What the apache-fpm backends refuse before anything runs, and how they write values into
Apache's and PHP-FPM's files (no daemon: validation and rendering only)."""

from __future__ import annotations

from typing import Any

import pytest
from orchestra_apache_fpm.names import apache_quote, define_name, ini_quote, pool_name
from orchestra_apache_fpm.settings import ApacheFpmSettings

from orchestra_core import ChangeSet, Orchestra, Route, Server
from orchestra_core.catalogue import SystemUser, WebApp, Website, WebsiteContent
from orchestra_core.errors import ValidationError
from orchestra_core.testing.hostile import hostile_values

BACKENDS = ("apache-systemuser", "apache-webapp", "apache-website")
USER = SystemUser(account="acme", name="acme")
APP = WebApp(account="acme", name="blog", system_user="acme", options={"memory_limit": "64M"})
SITE = Website(
    account="acme",
    name="www",
    domains=("acme.example",),
    contents=(WebsiteContent(path="/", webapp="blog"),),
)


def engine(**settings: Any) -> Orchestra:
    return Orchestra(
        servers=[Server(name="web1", transport="recording", settings={"apache_fpm": settings})],
        routes=[Route(backend=b, servers=("web1",)) for b in BACKENDS],
    )


def errors(*objects: Any, **settings: Any) -> list[tuple[str, str, str]]:
    """The field errors of planning ``objects`` (the first saved, all known)."""
    orchestra = engine(**settings)
    try:
        with pytest.raises(ValidationError) as caught:
            changes = ChangeSet()
            for obj in objects:
                changes = changes.save(obj)
            orchestra.plan(changes)
    finally:
        orchestra.close()
    return [(e.object_key, e.field, e.message) for e in caught.value.errors]


def plan_text(*objects: Any, **settings: Any) -> str:
    orchestra = engine(**settings)
    try:
        changes = ChangeSet()
        for obj in objects:
            changes = changes.save(obj)
        return orchestra.plan(changes).render_text()
    finally:
        orchestra.close()


def test_a_name_with_no_room_for_its_cgi_user_is_refused() -> None:
    long = SystemUser(account="acme", name="a" * 30)
    [(key, field, message)] = errors(long)
    assert (key, field) == (long.key, "name") and "CGI user" in message
    [(_, field, message)] = errors(SystemUser(account="acme", name="shop-cgi"))
    assert field == "name" and "ends like a CGI user" in message


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"memory_limit": "1 GB"}, "options[memory_limit]", "memory_limit"),
        ({"open_basedir": "/"}, "options[open_basedir]", "open_basedir"),
        ({"track_errors": "On"}, "options[track_errors]", "removed"),
        ({"no_such_setting": "1"}, "options[no_such_setting]", "not a php.ini setting"),
    ],
)
def test_php_options_are_checked_with_their_field(
    options: dict[str, str], field: str, words: str
) -> None:
    app = WebApp(account="acme", name="blog", system_user="acme", options=options)
    found = errors(app, USER)
    assert [f for _, f, _ in found] == [field], found
    assert words in found[0][2]


def test_hostile_option_values_are_refused_naming_the_option() -> None:
    for hostile in hostile_values("/tmp/canary"):
        app = WebApp(
            account="acme", name="blog", system_user="acme", options={"memory_limit": hostile.value}
        )
        found = errors(app, USER)
        assert [f for _, f, _ in found] == ["options[memory_limit]"], (hostile.name, found)


def test_a_php_version_the_server_lacks_is_refused() -> None:
    app = WebApp(account="acme", name="blog", system_user="acme", php_version="7.4")
    [(_, field, message)] = errors(app, USER)
    assert field == "php_version" and "7.4" in message


def test_a_static_app_takes_no_options() -> None:
    app = WebApp(account="acme", name="docs", type="static", system_user="acme", options={"a": "1"})
    assert [f for _, f, _ in errors(app, USER)] == ["options"]


def test_a_socket_path_too_long_is_refused() -> None:
    found = errors(APP, USER, run_dir="/run/" + "x" * 90)
    assert [f for _, f, _ in found] == ["name"] and "socket" in found[0][2]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"http_listen": "80"}, "http_listen"),
        ({"php_versions": ["8.2"], "default_php_version": "8.3"}, "default_php_version"),
        ({"pools_dir": "/etc/php/{major}/pools"}, "pools_dir"),
        ({"upload_dirs": ["../up"]}, "upload_dirs"),
        ({"suspended_page": "line\nbreak"}, "suspended_page"),
        ({"cgi_suffix": "-CGI"}, "cgi_suffix"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], words: str) -> None:
    from orchestra_core.errors import ConfigurationError

    with pytest.raises((ConfigurationError, ValidationError, ValueError)) as caught:
        plan_text(USER, **settings)
    assert words in str(caught.value)


def test_values_are_quoted_for_apache_and_ini() -> None:
    assert apache_quote('say "hi" \\ there') == '"say \\"hi\\" \\\\ there"'
    for bad in ("a\nb", "a\rb", "a\x00b", "${HOME}"):
        with pytest.raises(ValueError):
            apache_quote(bad)
    assert ini_quote("/home/a b") == '"/home/a b"'
    for bad in ('a"b', "a$b", "a\\b", "a\nb"):
        with pytest.raises(ValueError):
            ini_quote(bad)


def test_pool_names_fit_a_socket_and_stay_apart() -> None:
    assert pool_name("acme", "blog") == "acme-blog"
    long_a, long_b = pool_name("a" * 60, "blog"), pool_name("a" * 60, "shop")
    assert len(long_a) <= 40 and len(long_b) <= 40 and long_a != long_b
    assert define_name("acme~www") != define_name("acme~www2")


def test_the_suspended_page_is_one_quoted_argument() -> None:
    page = 'We are "down"; call <b>us</b>'
    text = plan_text(SITE, APP, USER, suspended_page=page, http_listen="127.0.0.1:8080")
    assert "Redirect 503 /" not in text  # active: the page is only for suspended sites
    settings = ApacheFpmSettings(suspended_page=page)
    assert apache_quote(settings.suspended_page) == '"We are \\"down\\"; call <b>us</b>"'


def test_the_site_file_serves_php_through_the_pool_and_denies_it_in_uploads() -> None:
    text = plan_text(SITE, APP, USER)
    assert 'SetHandler "proxy:unix:/run/php/orchestra/acme-blog.sock|fcgi://localhost"' in text
    assert '<Directory "/home/acme/webapps/blog/wp-content/uploads">' in text
    assert "AllowOverride None" in text and "Require all denied" in text
    assert 'IncludeOptional "/etc/apache2/orchestra-overrides/acme~www/*.conf"' in text


def test_a_changed_home_re_saves_the_sites_that_serve_its_apps() -> None:
    """The site's file names folders in the user's home: a change set holding only the user
    with a new home plans the web app and the website again, with the new paths."""
    from orchestra_core import ServiceIndex
    from orchestra_core.driver import Account

    moved = SystemUser(account="acme", name="acme", home="/srv/homes/acme")
    orchestra = engine()
    try:
        plan = orchestra.plan(
            ChangeSet().save(moved),
            index=ServiceIndex([Account(name="acme")], [moved, APP, SITE]),
        )
    finally:
        orchestra.close()
    keys = {key for op in plan.operations() for key in op.object_keys}
    assert {moved.key, APP.key, SITE.key} <= keys, keys
    assert 'DocumentRoot "/srv/homes/acme/webapps/blog"' in plan.render_text()
