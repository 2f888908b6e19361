# Stamp a serial on the zone source, check it, put it live, reload that zone alone.
# Serial: YYYYMMDD00 of today (UTC), or the live serial + 1 when that is not lower, so it never
# goes backwards and has no 99-changes-a-day ceiling (it runs into tomorrow's numbers).
set -u
live=/var/lib/bind/orchestra/example.com.zone
# The live zone is replaced, its copy made and put back, never written through a symlink.
__o_safe -l "$live" && __o_safe "$live.orchestra-previous" || exit 1
old=$(sed -n 's/^ *\([0-9][0-9]*\) ; serial$/\1/p' -- "$live" 2>/dev/null | head -n 1)
new=$(date -u +%Y%m%d)00
if [ -n "$old" ] && [ "$old" -ge "$new" ]; then new=$((old + 1)); fi
tmp=$(mktemp -- "$live.XXXXXX") || exit 1
trap 'rm -f -- "$tmp"' EXIT
sed -e "s/^\( *\)0 ; serial\$/\1$new ; serial/" -- /var/lib/bind/orchestra/example.com.zone.src >"$tmp" || exit 1
chmod 0644 -- "$tmp" || exit 1
named-checkzone -k fail -M fail -S fail -q example.com "$tmp" || { named-checkzone -k fail -M fail -S fail example.com "$tmp"; exit 1; }
# Does named hold the zone? Only named's own "not found" says no (the zone is new, or
# suspended: the stanza step and the reconfig load it). Any other failure (a wrong key, named
# down) means rndc cannot talk to named: the zone cannot be reloaded, so it is not published,
# and a later apply finds the live zone still different from its source and publishes it.
if status=$(rndc zonestatus example.com 2>&1); then
  held=1
elif printf '%s\n' "$status" | grep -q "'zonestatus' failed: not found\$"; then
  held=0
else
  printf 'zone %s is not published: named cannot be reached:\n%s\n' example.com "$status" >&2
  exit 1
fi
had_live=0
if [ -f "$live" ]; then cp -p -- "$live" "$live.orchestra-previous" && had_live=1 || exit 1; fi
mv -f -- "$tmp" "$live" || exit 1
printf '%s: serial %s\n' example.com "$new"
if [ "$held" = 1 ]; then
  if ! rndc reload example.com; then
    printf 'reload of %s failed: the previous zone is back\n' example.com >&2
    if [ "$had_live" = 1 ]; then mv -f -- "$live.orchestra-previous" "$live"; else rm -f -- "$live"; fi
    rndc reload example.com >/dev/null 2>&1
    exit 1
  fi
else
  # named does not hold the zone (new, or suspended): a journal left from the old file does
  # not fit the new one, and named would refuse to load the zone ("journal out of sync").
  rm -f -- "$live.jnl"
fi
rm -f -- "$live.orchestra-previous"
# unless:
# The live zone holds the source's content (serials aside): nothing to publish.
[ -f /var/lib/bind/orchestra/example.com.zone ] && cmp -s <(grep -v -- ' ; serial$' /var/lib/bind/orchestra/example.com.zone.src) <(grep -v -- ' ; serial$' /var/lib/bind/orchestra/example.com.zone)
