# Gather the zone stanzas into the include file named reads, check it, then reconfig.
# With no zone left the include is empty again, as it was before orchestra's first zone.
set -u
inc=/srv/dns/named.conf.zones
__o_safe -l "$inc" || exit 1
tmp=$(mktemp -- "$inc.XXXXXX") || exit 1
trap 'rm -f -- "$tmp"' EXIT
set -- /srv/dns/conf/zones/*.conf
if [ -e "$1" ]; then
  {
    printf '// Managed by orchestra-bind9: generated from %s. Do not edit.\n' /srv/dns/conf/zones
    printf '%s\0' "$@" | xargs -0 cat --
  } >"$tmp" || exit 1
fi
named-checkconf "$tmp" || exit 1
# Slave zones the include did not have yet: one that comes back from a suspension loads its old
# copy, and would learn of what changed meanwhile only at its SOA refresh time (an hour by
# default), since the master's notify came before the zone was here. Ask its masters now.
added=$(comm -13 <(sed -n 's/^zone "\([^"]*\)" {$/\1/p' -- "$inc" 2>/dev/null | sort) \
  <(sed -n '/^zone "/{h;d};/^ *type slave;$/{x;s/^zone "\([^"]*\)" {$/\1/p}' -- "$tmp" | sort))
chmod 0644 -- "$tmp" && mv -f -- "$tmp" "$inc" || exit 1
rndc -c /srv/dns/rndc.conf reconfig || exit 1
for zone in $added; do
  rndc -c /srv/dns/rndc.conf refresh "$zone" >/dev/null ||
    printf 'warning: slave zone %s did not refresh: it transfers at its refresh time\n' "$zone" >&2
done
