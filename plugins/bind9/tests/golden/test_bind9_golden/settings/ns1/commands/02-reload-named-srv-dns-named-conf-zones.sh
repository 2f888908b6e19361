# named re-reads its configuration: the include file, which the core assembled from the zone
# stanzas (checked whole by named-checkconf) before this runs.
set -u
rndc -c /srv/dns/rndc.conf reconfig || exit 1
# Slave zones whose stanza is new in this batch: one that comes back from a suspension loads
# its old copy, and would learn of what changed meanwhile only at its SOA refresh time (an
# hour by default), since the master's notify came before the zone was here. Ask its masters
# now. The batch lists the files it added for named in $ORCHESTRA_ADDED_FILES.
[ -n "${ORCHESTRA_ADDED_FILES-}" ] && [ -s "$ORCHESTRA_ADDED_FILES" ] || exit 0
added=()
while IFS= read -r -d '' stanza; do
  case $stanza in /srv/dns/conf/zones/*) [ -f "$stanza" ] && added+=("$stanza") ;; esac
done <"$ORCHESTRA_ADDED_FILES"
[ -n "${added[0]-}" ] || exit 0
# One sed for every new stanza (not one a zone): the names of the slave zones among them.
slaves=$(printf '%s\0' "${added[@]}" | xargs -0 sed -s -n \
  '/^zone "/{h;d};/^ *type slave;$/{x;s/^zone "\([^"]*\)" {$/\1/p}' --)
for zone in $slaves; do
  rndc -c /srv/dns/rndc.conf refresh "$zone" >/dev/null ||
    printf 'warning: slave zone %s did not refresh: it transfers at its refresh time\n' "$zone" >&2
done
exit 0
