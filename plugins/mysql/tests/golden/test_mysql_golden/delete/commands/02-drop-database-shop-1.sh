set -u
# The server's mysql client, logged in as its admin; SQL arrives with -e or on stdin, never
# with a secret on the command line. MariaDB's client repeats a failed statement on stderr
# (print-query-on-error): a new password or its hash would reach the logs, so it is turned
# off ("loose": MySQL's client has no such option and only warns).
__my() {
  mysql --defaults-file=/etc/mysql/debian.cnf --batch --skip-column-names --raw --loose-skip-print-query-on-error --default-character-set=utf8mb4 --init-command='SET SESSION sql_mode = '"'"'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"'"'' "$@"
}

# Database shop_1: drop it, after a dump to /var/backups/mysql; absent already is fine.
found=$(__my -e 'SELECT 1 FROM information_schema.SCHEMATA s WHERE s.SCHEMA_NAME = '"'"'shop_1'"'"'') || exit 1
[ -n "$found" ] || exit 0


set -o pipefail
(umask 077 && mkdir -p -- /var/backups/mysql) || exit 1
out=/var/backups/mysql/shop_1-$(date -u +%Y%m%dT%H%M%SZ).sql.gz
if ! mysqldump --defaults-file=/etc/mysql/debian.cnf --single-transaction --routines --events --triggers --databases -- shop_1 | gzip -c >"$out"; then
  rm -f -- "$out"
  printf 'orchestra-mysql: could not dump %s: not dropped\n' shop_1 >&2
  exit 1
fi
printf 'dumped to %s\n' "$out"

printf '%s\n' 'DROP DATABASE `shop_1`'
__my -e 'DROP DATABASE `shop_1`'

# unless:
set -u
# The server's mysql client, logged in as its admin; SQL arrives with -e or on stdin, never
# with a secret on the command line. MariaDB's client repeats a failed statement on stderr
# (print-query-on-error): a new password or its hash would reach the logs, so it is turned
# off ("loose": MySQL's client has no such option and only warns).
__my() {
  mysql --defaults-file=/etc/mysql/debian.cnf --batch --skip-column-names --raw --loose-skip-print-query-on-error --default-character-set=utf8mb4 --init-command='SET SESSION sql_mode = '"'"'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"'"'' "$@"
}

# Database shop_1: drop it, after a dump to /var/backups/mysql; absent already is fine.
found=$(__my -e 'SELECT 1 FROM information_schema.SCHEMATA s WHERE s.SCHEMA_NAME = '"'"'shop_1'"'"'') || exit 1
[ -n "$found" ] || exit 0

exit 1

