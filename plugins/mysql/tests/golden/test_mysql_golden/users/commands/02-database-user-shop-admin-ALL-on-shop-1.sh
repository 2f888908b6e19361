set -u
# The server's mysql client, logged in as its admin; SQL arrives with -e or on stdin, never
# with a secret on the command line. MariaDB's client repeats a failed statement on stderr
# (print-query-on-error): a new password or its hash would reach the logs, so it is turned
# off ("loose": MySQL's client has no such option and only warns).
__my() {
  mysql --defaults-file=/etc/mysql/debian.cnf --batch --skip-column-names --raw --loose-skip-print-query-on-error --default-character-set=utf8mb4 --init-command='SET SESSION sql_mode = '"'"'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"'"'' "$@"
}

# Account '`shop_admin`@`%`': exists, is locked exactly when suspended, and holds exactly the wanted
# privileges on its databases (compared column by column in mysql.db, the server's own record,
# so that ALL and its expansion are the same thing). Each statement has its opposite in undo:
# if the server refuses one, those that ran before it are taken back, and the account is left
# as it was (account statements are not transactional).
sql=() shown=() undo=()
# One client run reads all: mysql.db's columns, whether the account exists and is locked, and
# its rows of mysql.db (one line each, tab-separated, in column order).
out=$(__my -e 'SELECT '"'"'cols'"'"', GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION SEPARATOR '"'"' '"'"') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '"'"'mysql'"'"' AND TABLE_NAME = '"'"'db'"'"'; SELECT '"'"'user'"'"', IF(JSON_VALUE(Priv, '"'"'$.account_locked'"'"') IN ('"'"'true'"'"', '"'"'1'"'"'), 1, 0) FROM mysql.global_priv WHERE User = '"'"'shop_admin'"'"' AND Host = '"'"'%'"'"'; SELECT '"'"'row'"'"', d.* FROM mysql.db d WHERE User = '"'"'shop_admin'"'"' AND Host = '"'"'%'"'"' ORDER BY d.Db') || exit 1
n=0 locked=0 cols= rows=()
while IFS= read -r line; do
  case $line in
    cols$'\t'*) cols=${line#cols$'\t'} ;;
    user$'\t'*) n=1 locked=${line#user$'\t'} ;;
    row$'\t'*) rows+=("${line#row$'\t'}") ;;
  esac
done <<<"$out"
if [ "$n" = 0 ]; then
  # A password nobody knows until set_password gives one; never printed. It ends with each
  # class a password policy may ask for (simple_password_check, validate_password: a digit,
  # both cases, another character), or such a server refuses to create the account.
  pw=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40) || exit 1
  pw+=-Aa1
  sql+=('CREATE USER `shop_admin`@`%`'" IDENTIFIED BY '$pw'"' ACCOUNT UNLOCK')
  shown+=('CREATE USER `shop_admin`@`%`'" IDENTIFIED BY <random>"' ACCOUNT UNLOCK') undo+=('DROP USER `shop_admin`@`%`')
elif [ "$locked" != 0 ]; then
  sql+=('ALTER USER `shop_admin`@`%` ACCOUNT UNLOCK') shown+=('ALTER USER `shop_admin`@`%` ACCOUNT UNLOCK') undo+=('ALTER USER `shop_admin`@`%` ACCOUNT LOCK')
fi
read -ra names_in_order <<<"$cols"
declare -A have=()
for r in "${rows[@]}"; do
  db= privs= i=0
  while :; do
    v=${r%%$'\t'*}
    c=${names_in_order[$i]:-}
    if [ "$c" = Db ]; then
      db=$v
    elif [[ $c == *_priv && $v == Y ]]; then
      privs+="${privs:+ }$c"
    fi
    [[ $r == *$'\t'* ]] || break
    r=${r#*$'\t'} i=$((i + 1))
  done
  [ -n "$db" ] && have[$db]=$privs
done
cols=
for c in "${names_in_order[@]}"; do
  [[ $c == *_priv ]] && cols+="${cols:+ }$c"
done
declare -A names=([Select_priv]=SELECT [Insert_priv]=INSERT [Update_priv]=UPDATE [Delete_priv]=DELETE [Create_priv]=CREATE [Drop_priv]=DROP [References_priv]=REFERENCES [Index_priv]=INDEX [Alter_priv]=ALTER [Create_tmp_table_priv]='CREATE TEMPORARY TABLES' [Lock_tables_priv]='LOCK TABLES' [Create_view_priv]='CREATE VIEW' [Show_view_priv]='SHOW VIEW' [Create_routine_priv]='CREATE ROUTINE' [Alter_routine_priv]='ALTER ROUTINE' [Execute_priv]=EXECUTE [Event_priv]=EVENT [Trigger_priv]=TRIGGER [Delete_history_priv]='DELETE HISTORY' [Grant_priv]='GRANT OPTION' )
declare -A want=(['shop\_1']=ALL )
declare -A target=(['shop\_1']='`shop\_1`' )
all=
for c in $cols; do [ "$c" = Grant_priv ] || all+=" $c"; done
__name() { if [ -n "${names[$1]:-}" ]; then n1=${names[$1]}; else n1=${1%_priv}; n1=${n1//_/ }; n1=${n1^^}; fi; }
regranted=
mapfile -t dbs < <(printf '%s\n' "${!want[@]}" "${!have[@]}" | LC_ALL=C sort -u)
for db in "${dbs[@]}"; do
  [ -n "$db" ] || continue
  w=${want[$db]:-} h=${have[$db]:-}
  [ "$w" = ALL ] && w=$all
  grant= revoke=
  for c in $w; do
    [[ " $all " == *" $c "* ]] || { printf 'orchestra-mysql: this server has no privilege %s\n' "$c" >&2; exit 1; }
  done
  for c in $cols; do
    if [[ " $w " == *" $c "* && " $h " != *" $c "* ]]; then __name "$c"; grant+="${grant:+, }$n1"; fi
    if [[ " $h " == *" $c "* && " $w " != *" $c "* ]]; then __name "$c"; revoke+="${revoke:+, }$n1"; fi
  done
  t=${target[$db]:-}
  if [ -z "$t" ]; then t=${db//\`/\`\`}; t="\`$t\`"; fi
  [ -z "$grant$revoke" ] || regranted=1
  if [ -n "$revoke" ]; then
    sql+=("REVOKE $revoke ON $t.* FROM "'`shop_admin`@`%`') shown+=("${sql[-1]}")
    undo+=("GRANT $revoke ON $t.* TO "'`shop_admin`@`%`')
  fi
  if [ "${want[$db]:-}" = ALL ] && [ -z "$h" ]; then grant="ALL PRIVILEGES"; fi
  if [ -n "$grant" ]; then
    sql+=("GRANT $grant ON $t.* TO "'`shop_admin`@`%`') shown+=("${sql[-1]}")
    undo+=("REVOKE $grant ON $t.* FROM "'`shop_admin`@`%`')
  fi
done
[ -n "${sql[*]}" ] || exit 0

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
# its next USE: when they changed, its sessions end, so that the change holds at once (a
# pooled connection would go on writing into a database over its quota, or go on being
# refused after it recovered).
if [ -n "$regranted" ]; then
  for id in $(__my -e 'SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '"'"'shop_admin'"'"''); do
    [[ $id =~ ^[0-9]+$ ]] && __my -e "KILL CONNECTION $id" 2>/dev/null
  done
fi

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

# Account '`shop_admin`@`%`': exists, is locked exactly when suspended, and holds exactly the wanted
# privileges on its databases (compared column by column in mysql.db, the server's own record,
# so that ALL and its expansion are the same thing). Each statement has its opposite in undo:
# if the server refuses one, those that ran before it are taken back, and the account is left
# as it was (account statements are not transactional).
sql=() shown=() undo=()
# One client run reads all: mysql.db's columns, whether the account exists and is locked, and
# its rows of mysql.db (one line each, tab-separated, in column order).
out=$(__my -e 'SELECT '"'"'cols'"'"', GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION SEPARATOR '"'"' '"'"') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '"'"'mysql'"'"' AND TABLE_NAME = '"'"'db'"'"'; SELECT '"'"'user'"'"', IF(JSON_VALUE(Priv, '"'"'$.account_locked'"'"') IN ('"'"'true'"'"', '"'"'1'"'"'), 1, 0) FROM mysql.global_priv WHERE User = '"'"'shop_admin'"'"' AND Host = '"'"'%'"'"'; SELECT '"'"'row'"'"', d.* FROM mysql.db d WHERE User = '"'"'shop_admin'"'"' AND Host = '"'"'%'"'"' ORDER BY d.Db') || exit 1
n=0 locked=0 cols= rows=()
while IFS= read -r line; do
  case $line in
    cols$'\t'*) cols=${line#cols$'\t'} ;;
    user$'\t'*) n=1 locked=${line#user$'\t'} ;;
    row$'\t'*) rows+=("${line#row$'\t'}") ;;
  esac
done <<<"$out"
if [ "$n" = 0 ]; then
  # A password nobody knows until set_password gives one; never printed. It ends with each
  # class a password policy may ask for (simple_password_check, validate_password: a digit,
  # both cases, another character), or such a server refuses to create the account.
  pw=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40) || exit 1
  pw+=-Aa1
  sql+=('CREATE USER `shop_admin`@`%`'" IDENTIFIED BY '$pw'"' ACCOUNT UNLOCK')
  shown+=('CREATE USER `shop_admin`@`%`'" IDENTIFIED BY <random>"' ACCOUNT UNLOCK') undo+=('DROP USER `shop_admin`@`%`')
elif [ "$locked" != 0 ]; then
  sql+=('ALTER USER `shop_admin`@`%` ACCOUNT UNLOCK') shown+=('ALTER USER `shop_admin`@`%` ACCOUNT UNLOCK') undo+=('ALTER USER `shop_admin`@`%` ACCOUNT LOCK')
fi
read -ra names_in_order <<<"$cols"
declare -A have=()
for r in "${rows[@]}"; do
  db= privs= i=0
  while :; do
    v=${r%%$'\t'*}
    c=${names_in_order[$i]:-}
    if [ "$c" = Db ]; then
      db=$v
    elif [[ $c == *_priv && $v == Y ]]; then
      privs+="${privs:+ }$c"
    fi
    [[ $r == *$'\t'* ]] || break
    r=${r#*$'\t'} i=$((i + 1))
  done
  [ -n "$db" ] && have[$db]=$privs
done
cols=
for c in "${names_in_order[@]}"; do
  [[ $c == *_priv ]] && cols+="${cols:+ }$c"
done
declare -A names=([Select_priv]=SELECT [Insert_priv]=INSERT [Update_priv]=UPDATE [Delete_priv]=DELETE [Create_priv]=CREATE [Drop_priv]=DROP [References_priv]=REFERENCES [Index_priv]=INDEX [Alter_priv]=ALTER [Create_tmp_table_priv]='CREATE TEMPORARY TABLES' [Lock_tables_priv]='LOCK TABLES' [Create_view_priv]='CREATE VIEW' [Show_view_priv]='SHOW VIEW' [Create_routine_priv]='CREATE ROUTINE' [Alter_routine_priv]='ALTER ROUTINE' [Execute_priv]=EXECUTE [Event_priv]=EVENT [Trigger_priv]=TRIGGER [Delete_history_priv]='DELETE HISTORY' [Grant_priv]='GRANT OPTION' )
declare -A want=(['shop\_1']=ALL )
declare -A target=(['shop\_1']='`shop\_1`' )
all=
for c in $cols; do [ "$c" = Grant_priv ] || all+=" $c"; done
__name() { if [ -n "${names[$1]:-}" ]; then n1=${names[$1]}; else n1=${1%_priv}; n1=${n1//_/ }; n1=${n1^^}; fi; }
regranted=
mapfile -t dbs < <(printf '%s\n' "${!want[@]}" "${!have[@]}" | LC_ALL=C sort -u)
for db in "${dbs[@]}"; do
  [ -n "$db" ] || continue
  w=${want[$db]:-} h=${have[$db]:-}
  [ "$w" = ALL ] && w=$all
  grant= revoke=
  for c in $w; do
    [[ " $all " == *" $c "* ]] || { printf 'orchestra-mysql: this server has no privilege %s\n' "$c" >&2; exit 1; }
  done
  for c in $cols; do
    if [[ " $w " == *" $c "* && " $h " != *" $c "* ]]; then __name "$c"; grant+="${grant:+, }$n1"; fi
    if [[ " $h " == *" $c "* && " $w " != *" $c "* ]]; then __name "$c"; revoke+="${revoke:+, }$n1"; fi
  done
  t=${target[$db]:-}
  if [ -z "$t" ]; then t=${db//\`/\`\`}; t="\`$t\`"; fi
  [ -z "$grant$revoke" ] || regranted=1
  if [ -n "$revoke" ]; then
    sql+=("REVOKE $revoke ON $t.* FROM "'`shop_admin`@`%`') shown+=("${sql[-1]}")
    undo+=("GRANT $revoke ON $t.* TO "'`shop_admin`@`%`')
  fi
  if [ "${want[$db]:-}" = ALL ] && [ -z "$h" ]; then grant="ALL PRIVILEGES"; fi
  if [ -n "$grant" ]; then
    sql+=("GRANT $grant ON $t.* TO "'`shop_admin`@`%`') shown+=("${sql[-1]}")
    undo+=("REVOKE $grant ON $t.* FROM "'`shop_admin`@`%`')
  fi
done
[ -n "${sql[*]}" ] || exit 0

exit 1

