set -u
# The server's mysql client, logged in as its admin; SQL arrives with -e or on stdin, never
# with a secret on the command line. MariaDB's client repeats a failed statement on stderr
# (print-query-on-error): a new password or its hash would reach the logs, so it is turned
# off ("loose": MySQL's client has no such option and only warns).
__my() {
  mysql --defaults-file=/etc/mysql/debian.cnf --batch --skip-column-names --raw --loose-skip-print-query-on-error --default-character-set=utf8mb4 --init-command='SET SESSION sql_mode = '"'"'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"'"'' "$@"
}

# Account '`shop`@`%`': a new password (mysql_native_password). The statement comes on stdin, redacted
# everywhere orchestra shows it. With its warnings: MariaDB says why it refuses a password
# there (a password policy, strict_password_validation), the error only that it failed.
__my --show-warnings || exit 1
printf 'password of %s set (%s)\n' '`shop`@`%`' mysql_native_password
