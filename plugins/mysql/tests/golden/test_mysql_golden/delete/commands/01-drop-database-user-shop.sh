set -u
# The server's mysql client, logged in as its admin; SQL arrives with -e or on stdin, never
# with a secret on the command line. MariaDB's client repeats a failed statement on stderr
# (print-query-on-error): a new password or its hash would reach the logs, so it is turned
# off ("loose": MySQL's client has no such option and only warns).
__my() {
  mysql --defaults-file=/etc/mysql/debian.cnf --batch --skip-column-names --raw --loose-skip-print-query-on-error --default-character-set=utf8mb4 --init-command='SET SESSION sql_mode = '"'"'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"'"'' "$@"
}

# Account '`shop`@`%`': dropped with its privileges, its sessions ended; absent already is fine.
n=$(__my -e 'SELECT COUNT(*) FROM mysql.user WHERE User = '"'"'shop'"'"' AND Host = '"'"'%'"'"'') || exit 1
[ "$n" != 0 ] || exit 0

printf '%s;\n' 'DROP USER `shop`@`%`'
__my -e 'DROP USER `shop`@`%`' || exit 1
for id in $(__my -e 'SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '"'"'shop'"'"''); do
  [[ $id =~ ^[0-9]+$ ]] && __my -e "KILL CONNECTION $id" 2>/dev/null
done
exit 0

# unless:
set -u
# The server's mysql client, logged in as its admin; SQL arrives with -e or on stdin, never
# with a secret on the command line. MariaDB's client repeats a failed statement on stderr
# (print-query-on-error): a new password or its hash would reach the logs, so it is turned
# off ("loose": MySQL's client has no such option and only warns).
__my() {
  mysql --defaults-file=/etc/mysql/debian.cnf --batch --skip-column-names --raw --loose-skip-print-query-on-error --default-character-set=utf8mb4 --init-command='SET SESSION sql_mode = '"'"'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"'"'' "$@"
}

# Account '`shop`@`%`': dropped with its privileges, its sessions ended; absent already is fine.
n=$(__my -e 'SELECT COUNT(*) FROM mysql.user WHERE User = '"'"'shop'"'"' AND Host = '"'"'%'"'"'') || exit 1
[ "$n" != 0 ] || exit 0

exit 1

