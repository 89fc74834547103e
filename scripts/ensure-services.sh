#!/usr/bin/env bash
# Makes sure the MariaDB and Redis that DATABASE_URL / REDIS_URL point at are reachable.
# Only acts for servers on this machine: starts them when installed, installs them from
# Debian's packages when absent (needs root). Remote servers are only checked.
set -euo pipefail

DATABASE_URL=${DATABASE_URL:-mysql://root@127.0.0.1:3306/aiworker}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}

hostport() { # url default_port -> "host port"
  local rest=${1#*://}
  rest=${rest#*@}
  rest=${rest%%/*}
  local host=${rest%%:*} port=$2
  [[ $rest == *:* ]] && port=${rest##*:}
  echo "$host $port"
}
reachable() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
is_local() { [[ $1 == 127.* || $1 == localhost || $1 == ::1 ]]; }
wait_for() { # host port name
  for _ in $(seq 1 60); do reachable "$1" "$2" && return 0; sleep 0.5; done
  echo "ensure-services: $3 did not come up on $1:$2" >&2
  return 1
}
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-services: $* missing and not root; install it (apt-get install $*) or point the URL at a running server" >&2
    exit 1
  fi
  echo "ensure-services: installing $* from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}

read -r MYSQL_HOST MYSQL_PORT < <(hostport "$DATABASE_URL" 3306)
if ! reachable "$MYSQL_HOST" "$MYSQL_PORT"; then
  is_local "$MYSQL_HOST" || { echo "ensure-services: MySQL at $MYSQL_HOST:$MYSQL_PORT is not reachable" >&2; exit 1; }
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
  echo "ensure-services: starting MariaDB on port $MYSQL_PORT" >&2
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null 2>&1 || true
  fi
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql --port="$MYSQL_PORT" --bind-address=127.0.0.1
  wait_for "$MYSQL_HOST" "$MYSQL_PORT" MariaDB
  # Debian's MariaDB lets root in over the socket only; the service connects over TCP without a password.
  for _ in $(seq 1 20); do
    mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;" 2>/dev/null && break
    sleep 0.5
  done
fi

read -r REDIS_HOST REDIS_PORT < <(hostport "$REDIS_URL" 6379)
if ! reachable "$REDIS_HOST" "$REDIS_PORT"; then
  is_local "$REDIS_HOST" || { echo "ensure-services: Redis at $REDIS_HOST:$REDIS_PORT is not reachable" >&2; exit 1; }
  command -v redis-server >/dev/null || apt_install redis-server
  echo "ensure-services: starting Redis on port $REDIS_PORT" >&2
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/aiworker.log
  wait_for "$REDIS_HOST" "$REDIS_PORT" Redis
fi
