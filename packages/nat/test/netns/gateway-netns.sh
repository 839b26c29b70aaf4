#!/usr/bin/env bash
# Builds (up) or removes (down) three network namespaces for the NAT integration tests:
#   <p>gw  : the router, lan0 10.200.0.1/24 + 2e00:200::1/64, wan0 11.0.0.1/24 + 2001:db8:11::1/64
#   <p>lan : a host behind it, 10.200.0.2 + 2e00:200::2, default routes via the router
#   <p>wan : a host on the "internet" side, 11.0.0.2 + 2001:db8:11::2
# The LAN's IPv6 prefix is global unicast (2e00::/16, which IANA has not allocated, so it names nobody's
# hosts), as on a line with native IPv6: routers name such an address in their SSDP answers. These and
# the WAN addresses exist only inside these namespaces; none has a link or route to the host's network.
# miniupnpd itself is started by the test (so it owns the pid); `up` writes its config.
#
# usage: gateway-netns.sh up <prefix> <workdir>
#        gateway-netns.sh down <prefix>
set -euo pipefail

cmd=${1:?up|down}
p=${2:?prefix}
gw="${p}gw"
lan="${p}lan"
wan="${p}wan"

down() {
  for ns in "$gw" "$lan" "$wan"; do
    if ip netns list | grep -qw "$ns"; then
      # Only processes inside our own, uniquely named namespaces (e.g. a stray miniupnpd).
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}

if [ "$cmd" = down ]; then
  down
  exit 0
fi

work=${3:?workdir}
trap 'down' ERR

ip netns add "$gw"
ip netns add "$lan"
ip netns add "$wan"
ip link add lan0 netns "$gw" type veth peer name eth0 netns "$lan"
ip link add wan0 netns "$gw" type veth peer name eth0 netns "$wan"
for ns in "$gw" "$lan" "$wan"; do ip -n "$ns" link set lo up; done

ip -n "$gw" addr add 10.200.0.1/24 dev lan0
ip -n "$gw" addr add 2e00:200::1/64 dev lan0 nodad
ip -n "$gw" addr add 11.0.0.1/24 dev wan0
ip -n "$gw" addr add 2001:db8:11::1/64 dev wan0 nodad
ip -n "$lan" addr add 10.200.0.2/24 dev eth0
ip -n "$lan" addr add 2e00:200::2/64 dev eth0 nodad
ip -n "$wan" addr add 11.0.0.2/24 dev eth0
ip -n "$wan" addr add 2001:db8:11::2/64 dev eth0 nodad
ip -n "$gw" link set lan0 up
ip -n "$gw" link set wan0 up
ip -n "$lan" link set eth0 up
ip -n "$wan" link set eth0 up
ip -n "$lan" route add default via 10.200.0.1
ip -n "$lan" -6 route add default via 2e00:200::1
# The WAN host knows only the router's subnets: it can reach the LAN only through what the router opens.
ip -n "$wan" -6 route add 2e00:200::/64 via 2001:db8:11::1
ip netns exec "$gw" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$gw" sysctl -qw net.ipv6.conf.all.forwarding=1

# The skeleton miniupnpd's nftables backend expects (Debian's nft_init.sh is broken).
ip netns exec "$gw" nft -f - <<'NFT'
table inet filter {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
    jump miniupnpd
  }
  chain miniupnpd { }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "wan0" masquerade
  }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
NFT

mkdir -p "$work"
cat > "$work/miniupnpd.conf" <<CONF
ext_ifname=wan0
ext_ifname6=wan0
listening_ip=lan0
http_port=5000
enable_natpmp=yes
enable_upnp=yes
secure_mode=no
system_uptime=yes
lease_file=$work/leases
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b
allow 1024-65535 10.200.0.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
CONF
