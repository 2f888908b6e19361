set -u
# The server's mysql client, logged in as its admin; SQL arrives with -e or on stdin, never
# with a secret on the command line. MariaDB's client repeats a failed statement on stderr
# (print-query-on-error): a new password or its hash would reach the logs, so it is turned
# off ("loose": MySQL's client has no such option and only warns).
__my() {
  mysql --defaults-file=/etc/mysql/debian.cnf --batch --skip-column-names --raw --loose-skip-print-query-on-error --default-character-set=utf8mb4 --init-command='SET SESSION sql_mode = '"'"'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"'"'' "$@"
}

# Account '`shop_admin`@`%`': the statements reconcile chose from what the probe read (the account,
# its lock state and its rows of mysql.db). Each has its opposite in undo: if the server
# refuses one, those that ran before it are taken back, and the account is left as it was
# (account statements are not transactional).
sql=() shown=() undo=()
# A password nobody knows until set_password gives one; never printed. It ends with each
# class a password policy may ask for (simple_password_check, validate_password: a digit,
# both cases, another character), or such a server refuses to create the account.
pw=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40) || exit 1
pw+=-Aa1
sql+=('CREATE USER `shop_admin`@`%`'" IDENTIFIED BY '$pw'"' ACCOUNT UNLOCK')
shown+=('CREATE USER `shop_admin`@`%`'" IDENTIFIED BY <random>"' ACCOUNT UNLOCK') undo+=('DROP USER `shop_admin`@`%`')
sql+=('GRANT SELECT, UPDATE, DELETE, DROP, REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EXECUTE, EVENT, TRIGGER, DELETE HISTORY ON `shop\_1`.* TO `shop_admin`@`%`') shown+=('GRANT SELECT, UPDATE, DELETE, DROP, REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EXECUTE, EVENT, TRIGGER, DELETE HISTORY ON `shop\_1`.* TO `shop_admin`@`%`') undo+=('REVOKE SELECT, UPDATE, DELETE, DROP, REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EXECUTE, EVENT, TRIGGER, DELETE HISTORY ON `shop\_1`.* FROM `shop_admin`@`%`')
printf '%s;\n' "${shown[@]}"
# One statement a line: the client's "at line N" of a refusal counts the statements that ran.
if ! err=$(printf '%s;\n' "${sql[@]}" | __my 2>&1 >/dev/null); then
  printf '%s\n' "$err" >&2
  if [[ $err =~ at\ line\ ([0-9]+) ]]; then
    back=()
    for ((i = BASH_REMATCH[1] - 2; i >= 0; i--)); do back+=("${undo[$i]}"); done
    if [ -n "${back[*]}" ]; then
      if printf '%s;\n' "${back[@]}" | __my; then
        printf 'orchestra-mysql: taken back: %s\n' "${back[@]}" >&2
      else
        printf 'orchestra-mysql: could not take back: %s\n' "${back[@]}" >&2
      fi
    fi
  else
    printf 'orchestra-mysql: could not tell which statements ran; none taken back\n' >&2
  fi
  exit 1
fi
[ -z "$err" ] || printf '%s\n' "$err" >&2
# A session keeps the privileges on its current database that it had when it chose it, until
# its next USE: they changed, so its sessions end and the change holds at once (a pooled
# connection would go on writing into a database over its quota, or go on being refused
# after it recovered).
for id in $(__my -e 'SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '"'"'shop_admin'"'"''); do
  [[ $id =~ ^[0-9]+$ ]] && __my -e "KILL CONNECTION $id" 2>/dev/null
done
exit 0
