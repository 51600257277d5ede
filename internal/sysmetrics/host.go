package sysmetrics

import (
	"net"
	"os"
	"strings"
)

// HostInfo describes where the neuron runs, for the heartbeat's "host".
type HostInfo struct {
	Hostname string
	// IP is the address of the interface outbound traffic leaves from.
	IP string
	// ContainerID is the 64-hex id of the container the neuron runs in,
	// or "" outside a container (or where the runtime hides it).
	ContainerID string
}

// probeTargets are documentation addresses (RFC 5737, RFC 3849). Dialing
// UDP to one makes the kernel pick the outbound interface without sending
// a packet.
var probeTargets = []string{"192.0.2.1:9", "[2001:db8::1]:9"}

// Host describes this machine. It reads a few /proc files and asks the
// kernel for a route, so call it once at start, not per heartbeat. It never
// fails: an unknown hostname is "", an unknown IP is 127.0.0.1.
func Host() HostInfo {
	name, _ := os.Hostname() // "" when unknown; the heartbeat still goes out.
	cgroup, _ := os.ReadFile("/proc/self/cgroup")
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	return HostInfo{
		Hostname:    name,
		IP:          outboundIP(),
		ContainerID: ParseContainerID(string(cgroup), string(mountinfo)),
	}
}

// outboundIP returns the local address of the route to the outside,
// falling back to the first usable interface address, then 127.0.0.1.
func outboundIP() string {
	for _, target := range probeTargets {
		conn, err := net.Dial("udp", target)
		if err != nil {
			continue // No route of that family.
		}
		addr, ok := conn.LocalAddr().(*net.UDPAddr)
		_ = conn.Close()
		if ok && usable(addr.IP) {
			return addr.IP.String()
		}
	}
	addrs, _ := net.InterfaceAddrs() // Empty on error: fall through.
	return pickAddr(addrs)
}

// pickAddr returns the first usable IPv4 address of addrs, else the first
// usable IPv6 one, else 127.0.0.1.
func pickAddr(addrs []net.Addr) string {
	var v6 string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || !usable(n.IP) {
			continue
		}
		if n.IP.To4() != nil {
			return n.IP.String()
		}
		if v6 == "" {
			v6 = n.IP.String()
		}
	}
	if v6 != "" {
		return v6
	}
	return "127.0.0.1"
}

// usable reports whether ip can identify this host to others.
func usable(ip net.IP) bool {
	return ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() && !ip.IsMulticast()
}

// ParseContainerID extracts the container id from the text of
// /proc/self/cgroup and /proc/self/mountinfo; it returns "" when neither
// names one (not in a container, or a runtime that hides it).
//
// The cgroup path is tried first: cgroup v1, and v2 with the host's cgroup
// namespace, name the container there (/docker/ID, docker-ID.scope,
// /kubepods/.../ID, cri-containerd-ID.scope, crio-ID.scope,
// libpod-ID.scope). With a private cgroup namespace (cgroup v2's default
// for Docker) the path is just "/", and the id is found instead in the
// source of the /etc/hostname, /etc/hosts or /etc/resolv.conf bind mount
// (.../containers/ID/hostname for Docker, .../overlay-containers/ID/... for
// Podman). Kubernetes sandbox ids in those mounts are ignored: they name
// the pod's pause container, not ours.
func ParseContainerID(cgroup, mountinfo string) string {
	if id := idFromCgroup(cgroup); id != "" {
		return id
	}
	return idFromMountinfo(mountinfo)
}

// idFromCgroup scans "hierarchy:controllers:path" lines.
func idFromCgroup(cgroup string) string {
	for line := range strings.Lines(cgroup) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		segs := strings.Split(parts[2], "/")
		for i := len(segs) - 1; i >= 0; i-- {
			if id := idInSegment(segs[i]); id != "" {
				return id
			}
		}
	}
	return ""
}

// idInSegment returns the id of a cgroup path segment such as
// "docker-ID.scope", "cri-containerd-ID.scope" or "ID".
func idInSegment(seg string) string {
	seg = strings.TrimSuffix(seg, ".scope")
	if i := strings.LastIndexAny(seg, "-:"); i >= 0 {
		seg = seg[i+1:]
	}
	if isID(seg) {
		return seg
	}
	return ""
}

// containerDirs are the directories whose child, named by the id, holds a
// container's hostname, hosts and resolv.conf.
var containerDirs = map[string]bool{"containers": true, "overlay-containers": true}

// idFromMountinfo scans mountinfo lines ("ID parent major:minor root
// mountpoint ...") for the bind mounts of a container's /etc files.
func idFromMountinfo(mountinfo string) string {
	for line := range strings.Lines(mountinfo) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		switch f[4] {
		case "/etc/hostname", "/etc/hosts", "/etc/resolv.conf":
		default:
			continue
		}
		segs := strings.Split(f[3], "/")
		for i := len(segs) - 1; i >= 1; i-- {
			if isID(segs[i]) && containerDirs[segs[i-1]] {
				return segs[i]
			}
		}
	}
	return ""
}

// isID reports whether s is 64 lower-case hex digits.
func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
