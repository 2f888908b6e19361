set -u
# The server's mysql client, logged in as its admin; SQL arrives with -e or on stdin, never
# with a secret on the command line. MariaDB's client repeats a failed statement on stderr
# (print-query-on-error): a new password or its hash would reach the logs, so it is turned
# off ("loose": MySQL's client has no such option and only warns).
__my() {
  mysql --defaults-file=/etc/mysql/debian.cnf --batch --skip-column-names --raw --loose-skip-print-query-on-error --default-character-set=utf8mb4 --init-command='SET SESSION sql_mode = '"'"'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"'"'' "$@"
}

# Database shop_1: create it, or bring its default character set and collation in line
# (compared with what the server makes of the wanted names: aliases resolved, the charset's
# default collation when none is given; a pair it refuses fails this read, before any change).
row=$(__my -e 'SELECT IF(s.SCHEMA_NAME IS NULL, 0, 1), IFNULL(s.DEFAULT_CHARACTER_SET_NAME, '"'"'-'"'"'), IFNULL(s.DEFAULT_COLLATION_NAME, '"'"'-'"'"'), w.charset, IFNULL(w.collation, '"'"'-'"'"') FROM (SELECT CHARSET(CONVERT('"'"''"'"' USING utf8mb4)) AS charset, COLLATION(CONVERT('"'"''"'"' USING utf8mb4) COLLATE utf8mb4_unicode_ci) AS collation FROM information_schema.CHARACTER_SETS c WHERE c.CHARACTER_SET_NAME = CHARSET(CONVERT('"'"''"'"' USING utf8mb4))) w LEFT JOIN information_schema.SCHEMATA s ON s.SCHEMA_NAME = '"'"'shop_1'"'"'') || exit 1
IFS=$'\t' read -r exists charset collation want_charset want_collation <<<"$row"
if [ "$exists" = 0 ]; then
  sql='CREATE DATABASE `shop_1` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'
elif [ "$charset" = "$want_charset" ] && [ "$collation" = "$want_collation" ]; then
  exit 0
else
  sql='ALTER DATABASE `shop_1` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'
fi

printf '%s\n' "$sql"
__my -e "$sql"

# unless:
set -u
# The server's mysql client, logged in as its admin; SQL arrives with -e or on stdin, never
# with a secret on the command line. MariaDB's client repeats a failed statement on stderr
# (print-query-on-error): a new password or its hash would reach the logs, so it is turned
# off ("loose": MySQL's client has no such option and only warns).
__my() {
  mysql --defaults-file=/etc/mysql/debian.cnf --batch --skip-column-names --raw --loose-skip-print-query-on-error --default-character-set=utf8mb4 --init-command='SET SESSION sql_mode = '"'"'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"'"'' "$@"
}

# Database shop_1: create it, or bring its default character set and collation in line
# (compared with what the server makes of the wanted names: aliases resolved, the charset's
# default collation when none is given; a pair it refuses fails this read, before any change).
row=$(__my -e 'SELECT IF(s.SCHEMA_NAME IS NULL, 0, 1), IFNULL(s.DEFAULT_CHARACTER_SET_NAME, '"'"'-'"'"'), IFNULL(s.DEFAULT_COLLATION_NAME, '"'"'-'"'"'), w.charset, IFNULL(w.collation, '"'"'-'"'"') FROM (SELECT CHARSET(CONVERT('"'"''"'"' USING utf8mb4)) AS charset, COLLATION(CONVERT('"'"''"'"' USING utf8mb4) COLLATE utf8mb4_unicode_ci) AS collation FROM information_schema.CHARACTER_SETS c WHERE c.CHARACTER_SET_NAME = CHARSET(CONVERT('"'"''"'"' USING utf8mb4))) w LEFT JOIN information_schema.SCHEMATA s ON s.SCHEMA_NAME = '"'"'shop_1'"'"'') || exit 1
IFS=$'\t' read -r exists charset collation want_charset want_collation <<<"$row"
if [ "$exists" = 0 ]; then
  sql='CREATE DATABASE `shop_1` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'
elif [ "$charset" = "$want_charset" ] && [ "$collation" = "$want_collation" ]; then
  exit 0
else
  sql='ALTER DATABASE `shop_1` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'
fi

exit 1

