set -u
# The server's mysql client, logged in as its admin; SQL arrives with -e or on stdin, never
# with a secret on the command line. MariaDB's client repeats a failed statement on stderr
# (print-query-on-error): a new password or its hash would reach the logs, so it is turned
# off ("loose": MySQL's client has no such option and only warns).
__my() {
  mysql --defaults-file=/etc/mysql/debian.cnf --batch --skip-column-names --raw --loose-skip-print-query-on-error --default-character-set=utf8mb4 --init-command='SET SESSION sql_mode = '"'"'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"'"'' "$@"
}

# Read only: mysql.db's columns, whether account '`shop_admin`@`%`' exists and is locked, and its
# rows of mysql.db (one line each, tab-separated, in column order): what reconcile compares.
__my -e 'SELECT '"'"'cols'"'"', GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION SEPARATOR '"'"' '"'"') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '"'"'mysql'"'"' AND TABLE_NAME = '"'"'db'"'"'; SELECT '"'"'user'"'"', IF(JSON_VALUE(Priv, '"'"'$.account_locked'"'"') IN ('"'"'true'"'"', '"'"'1'"'"'), 1, 0) FROM mysql.global_priv WHERE User = '"'"'shop_admin'"'"' AND Host = '"'"'%'"'"'; SELECT '"'"'row'"'"', d.* FROM mysql.db d WHERE User = '"'"'shop_admin'"'"' AND Host = '"'"'%'"'"' ORDER BY d.Db'
