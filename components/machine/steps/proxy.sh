#!/usr/bin/env bash
# Phase proxy: nginx from the distribution in front of the engine. Every request needs
# "Authorization: Bearer <api key>" (401 otherwise); the engine is published on the host's 127.0.0.1 only.
# With TLS_DOMAIN set, certbot gets a certificate and nginx serves HTTPS on PROXY_PORT.
# The access log (no headers, no bodies) feeds the idle watchdog.
set -euo pipefail
# shellcheck source=../lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"
export DEBIAN_FRONTEND=noninteractive

changed=0
if ! command -v nginx >/dev/null 2>&1; then
  log "installing nginx"
  dpkg_recover
  retry apt_get update -q || fail "apt-get update failed"
  retry apt_get install -y -q --no-install-recommends nginx || fail "apt-get could not install nginx"
  changed=1
fi
mkdir -p "$LOG_DIR" "$STATE_DIR/acme"

tls_cert="$QS_ROOT/etc/letsencrypt/live/${TLS_DOMAIN:-none}/fullchain.pem"
tls_key="$QS_ROOT/etc/letsencrypt/live/${TLS_DOMAIN:-none}/privkey.pem"
if [ -n "${TLS_DOMAIN:-}" ] && [ ! -s "$tls_cert" ]; then
  command -v certbot >/dev/null 2>&1 || retry apt_get install -y -q --no-install-recommends certbot || fail "apt-get could not install certbot"
  # HTTP-01 on port 80 needs the ACME server to reach this host; the stack must allow it.
  write_if_changed "$NGINX_CONF_DIR/qwen3-serve-acme.conf" 0644 <<CONF && systemctl reload-or-restart nginx
server {
    listen ${ACME_HTTP_PORT:-80};
    server_name ${TLS_DOMAIN};
    location /.well-known/acme-challenge/ { root $STATE_DIR/acme; }
    location / { return 404; }
}
CONF
  retry certbot certonly --non-interactive --agree-tos --webroot -w "$STATE_DIR/acme" \
    -d "$TLS_DOMAIN" -m "$TLS_EMAIL" --deploy-hook "systemctl reload nginx" ||
    fail "certbot could not get a certificate for $TLS_DOMAIN (port 80 must be reachable from the internet)"
  changed=1
fi

if [ -n "${TLS_DOMAIN:-}" ]; then
  listen="listen ${PROXY_PORT} ssl;
    server_name ${TLS_DOMAIN};
    ssl_certificate ${tls_cert};
    ssl_certificate_key ${tls_key};
    ssl_protocols TLSv1.2 TLSv1.3;"
else
  listen="listen ${PROXY_PORT};"
fi

# The same template serves the Docker target; here it points at the bootstrap's files.
# The watchdog's in-flight count listens on a unix socket: no port to collide with on someone's
# workstation, and nothing a network can reach. idle.py reads the same QS_ACTIVITY_SOCKET.
activity_sock="$QS_ROOT$QS_ACTIVITY_SOCKET"
export TPL_AUTH_INCLUDE="${SECRETS_DIR}/proxy-auth.conf" TPL_LISTEN="$listen" TPL_ACCESS_LOG="$ACCESS_LOG" \
  TPL_UPSTREAM="http://127.0.0.1:${ENGINE_PORT}" TPL_UPSTREAM_SETUP="" TPL_ACTIVITY_LISTEN="unix:$activity_sock" \
  TPL_ACTIVITY_PATH="$QS_ACTIVITY_URL_PATH"
TPL_STATUS_LOCATION="$(cat <<LOCATION

    # Bootstrap progress for waiting clients; same key as the API.
    location = ${QS_STATUS_URL_PATH} {
        if (\$qwen3_serve_authorized = 0) { return 401 '{"error":{"message":"missing or wrong API key","type":"authentication_error"}}\n'; }
        default_type application/json;
        alias ${STATUS_FILE};
    }
LOCATION
)"

# A fleet replica answers the load balancer's health check without the key: 200 only when the
# engine serves the model (its health path; Ollama: the model is present, POST /api/show, which
# answers 404 for a missing one, ollama/ollama server/routes.go ShowHandler, read 2026-11-30).
# auth_request runs in the access phase, after any `return`, so the 200 is a file served in the
# content phase; every failure maps to a bare 503. No access log line (the watchdog ignores the
# path anyway) and no version in a header or body. A single machine has no such path: closed.
if [ -n "${FLEET_ASG_NAME:-}" ]; then
  [[ "$SERVED_MODEL" =~ ^[A-Za-z0-9._:/-]+$ ]] || fail "served model name $SERVED_MODEL cannot go into the readiness probe"
  if [ "$ENGINE" = ollama ]; then
    probe="proxy_method POST;
        proxy_set_header Content-Type application/json;
        proxy_set_body '{\"model\":\"${SERVED_MODEL}\"}';
        proxy_pass http://127.0.0.1:${ENGINE_PORT}/api/show;"
  else
    probe="proxy_pass_request_body off;
        proxy_set_header Content-Length \"\";
        proxy_pass http://127.0.0.1:${ENGINE_PORT}${ENGINE_HEALTH_PATH};"
  fi
  printf 'ready\n' | write_if_changed "$STATE_DIR/ready.txt" 0644 || true
  TPL_STATUS_LOCATION+="$(cat <<LOCATION

    location = ${FLEET_READY_PATH} {
        access_log off;
        server_tokens off;
        auth_request ${FLEET_READY_PATH}/engine;
        error_page 401 403 404 405 500 = @qwen3_serve_not_ready;
        default_type text/plain;
        alias ${STATE_DIR}/ready.txt;
    }
    location = ${FLEET_READY_PATH}/engine {
        internal;
        access_log off;
        server_tokens off;
        proxy_set_header Authorization "";
        proxy_connect_timeout 2s;
        proxy_read_timeout 4s;
        ${probe}
    }
    location @qwen3_serve_not_ready {
        access_log off;
        server_tokens off;
        default_type text/plain;
        return 503 "not ready\n";
    }
LOCATION
)"
fi
export TPL_STATUS_LOCATION
render_template "$QS_LIB/proxy.conf" | write_if_changed "$NGINX_CONF_DIR/qwen3-serve.conf" 0644 && changed=1

# nginx deletes its unix socket on a clean stop only; after a crash the stale file would make
# every restart fail to bind, so it goes before each start (/run itself is empty after a boot).
write_if_changed "$SYSTEMD_DIR/nginx.service.d/qwen3-serve.conf" 0644 <<UNIT && { systemctl daemon-reload; changed=1; }
[Service]
Restart=always
RestartSec=3
ExecStartPre=-/bin/rm -f $activity_sock
UNIT

# The access log is what the idle watchdog reads; rotate it in place (copytruncate keeps nginx's
# file handle, and the watchdog rereads a file that got shorter) so it cannot fill the disk.
write_if_changed "$QS_ROOT/etc/logrotate.d/qwen3-serve" 0644 <<ROTATE || true
$ACCESS_LOG {
    daily
    rotate 7
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
}
ROTATE

if [ "$changed" = 1 ] || ! systemctl is-active --quiet nginx; then
  nginx -t -q -c "$QS_ROOT/etc/nginx/nginx.conf" 2>"$STATE_DIR/nginx-test.log" ||
    fail "nginx rejected the proxy config: $(tail -n 3 "$STATE_DIR/nginx-test.log")"
  systemctl enable nginx >/dev/null 2>&1 || true
  systemctl reload-or-restart nginx
  exit 0
fi
exit 20
