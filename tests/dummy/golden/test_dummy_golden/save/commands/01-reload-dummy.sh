mkdir -p -- "$(dirname -- /var/lib/orchestra-dummy/reloads.log)" && echo "reloaded $(date -u +%Y-%m-%dT%H:%M:%SZ)" >> /var/lib/orchestra-dummy/reloads.log
