package sysmetrics

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// Real-world shapes of /proc/self/cgroup and /proc/self/mountinfo.
const (
	idDocker = "4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970"
	idOther  = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d"

	cgroupV1Docker = `12:pids:/docker/` + idDocker + `
11:memory:/docker/` + idDocker + `
10:cpu,cpuacct:/docker/` + idDocker + `
1:name=systemd:/docker/` + idDocker + `
0::/system.slice/containerd.service
`
	cgroupV1DockerSystemd = `5:hugetlb:/system.slice/docker-` + idDocker + `.scope
2:cpuacct,cpu:/system.slice/docker-` + idDocker + `.scope
1:name=systemd:/system.slice/docker-` + idDocker + `.scope
`
	cgroupV2HostNS   = "0::/system.slice/docker-" + idDocker + ".scope\n"
	cgroupV2Private  = "0::/\n"
	cgroupKubepodsV1 = `12:memory:/kubepods/burstable/pod3d274242-8ee0-11e9-a8a6-1e68d864ef1a/` + idDocker + `
11:cpuset:/kubepods/burstable/pod3d274242-8ee0-11e9-a8a6-1e68d864ef1a/` + idDocker + `
`
	cgroupKubepodsContainerd = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8f7b1e5c_3e2a_4b1d_9c3e_2f1a0b9c8d7e.slice/cri-containerd-" + idDocker + ".scope\n"
	cgroupCRIO               = "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0b6e1b7b_6a3e_4d5e_8e2f_1c3d4e5f6a7b.slice/crio-" + idDocker + ".scope\n"
	cgroupPodmanRootless     = "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + idDocker + ".scope/container\n"
	cgroupHostSystemd        = `12:pids:/user.slice/user-1000.slice/session-2.scope
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
0::/user.slice/user-1000.slice/session-2.scope
`
	cgroupECS = "9:perf_event:/ecs/8a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6/8a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6-1234567890\n"

	mountinfoDockerV2 = `1279 1203 0:119 / / rw,relatime master:338 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC:/var/lib/docker/overlay2/l/DEF,upperdir=/var/lib/docker/overlay2/` + idOther + `/diff,workdir=/var/lib/docker/overlay2/` + idOther + `/work
1280 1279 0:122 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1285 1284 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
1290 1279 259:1 /var/lib/docker/containers/` + idDocker + `/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/nvme0n1p1 rw,discard
1291 1279 259:1 /var/lib/docker/containers/` + idDocker + `/hostname /etc/hostname rw,relatime - ext4 /dev/nvme0n1p1 rw,discard
1292 1279 259:1 /var/lib/docker/containers/` + idDocker + `/hosts /etc/hosts rw,relatime - ext4 /dev/nvme0n1p1 rw,discard
`
	mountinfoDockerDesktop = `873 855 254:1 /docker/containers/` + idDocker + `/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw
`
	mountinfoPodman = `1021 1000 0:57 /containers/storage/overlay-containers/` + idDocker + `/userdata/hostname /etc/hostname rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=3247216k,mode=700,uid=1000,gid=1000
1022 1000 0:57 /containers/storage/overlay-containers/` + idDocker + `/userdata/.containerenv /run/.containerenv rw,nosuid,nodev,relatime - tmpfs tmpfs rw
`
	mountinfoK8sSandbox = `2001 1990 253:1 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/` + idOther + `/hostname /etc/hostname rw,relatime - ext4 /dev/root rw
2002 1990 253:1 /var/lib/kubelet/pods/8f7b1e5c-3e2a-4b1d-9c3e-2f1a0b9c8d7e/etc-hosts /etc/hosts rw,relatime - ext4 /dev/root rw
`
	mountinfoHost = `22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
25 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw
`
)

func TestParseContainerID(t *testing.T) {
	tests := []struct {
		name              string
		cgroup, mountinfo string
		want              string
	}{
		{"cgroup v1 docker", cgroupV1Docker, "", idDocker},
		{"cgroup v1 docker, systemd driver", cgroupV1DockerSystemd, "", idDocker},
		{"cgroup v2 docker, host cgroupns", cgroupV2HostNS, mountinfoHost, idDocker},
		{"cgroup v2 docker, private cgroupns", cgroupV2Private, mountinfoDockerV2, idDocker},
		{"docker desktop", cgroupV2Private, mountinfoDockerDesktop, idDocker},
		{"kubepods, cgroupfs driver", cgroupKubepodsV1, "", idDocker},
		{"kubepods, containerd", cgroupKubepodsContainerd, mountinfoK8sSandbox, idDocker},
		{"kubepods, cri-o", cgroupCRIO, "", idDocker},
		{"podman rootless", cgroupPodmanRootless, "", idDocker},
		{"podman, private cgroupns", cgroupV2Private, mountinfoPodman, idDocker},
		{"kubernetes sandbox id is not ours", cgroupV2Private, mountinfoK8sSandbox, ""},
		{"not in a container", cgroupHostSystemd, mountinfoHost, ""},
		{"ecs task ids are not container ids", cgroupECS, "", ""},
		{"upper-case hex is not an id", "0::/docker/" + strings.ToUpper(idDocker), "", ""},
		{"63 digits", "0::/docker/" + idDocker[1:], "", ""},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseContainerID(tt.cgroup, tt.mountinfo); got != tt.want {
				t.Fatalf("ParseContainerID = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseContainerID checks that the parser never panics and returns
// either nothing or a 64-hex id that appears in its input.
func FuzzParseContainerID(f *testing.F) {
	for _, c := range [][2]string{
		{cgroupV1Docker, ""}, {cgroupKubepodsContainerd, ""}, {cgroupPodmanRootless, ""},
		{cgroupV2Private, mountinfoDockerV2}, {cgroupV2Private, mountinfoPodman}, {cgroupHostSystemd, mountinfoHost},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, cgroup, mountinfo string) {
		id := ParseContainerID(cgroup, mountinfo)
		if id == "" {
			return
		}
		if !isID(id) || !strings.Contains(cgroup+mountinfo, id) {
			t.Fatalf("ParseContainerID returned %q, not a 64-hex id from its input", id)
		}
	})
}

func TestHost(t *testing.T) {
	h := Host()
	if h.Hostname == "" {
		t.Error("Hostname is empty")
	}
	if _, err := netip.ParseAddr(h.IP); err != nil {
		t.Errorf("IP %q does not parse: %v", h.IP, err)
	}
	if h.ContainerID != "" && !isID(h.ContainerID) {
		t.Errorf("ContainerID %q is not a 64-hex id", h.ContainerID)
	}
	t.Logf("host: %+v", h)
}

func TestPickAddr(t *testing.T) {
	ipnet := func(s string) net.Addr { return &net.IPNet{IP: net.ParseIP(s), Mask: net.CIDRMask(24, 32)} }
	tests := []struct {
		name  string
		addrs []net.Addr
		want  string
	}{
		{"nothing", nil, "127.0.0.1"},
		{"loopback only", []net.Addr{ipnet("127.0.0.1"), ipnet("::1")}, "127.0.0.1"},
		{"first usable IPv4", []net.Addr{ipnet("127.0.0.1"), ipnet("fe80::1"), ipnet("10.0.1.50"), ipnet("10.0.2.7")}, "10.0.1.50"},
		{"IPv4 preferred over IPv6", []net.Addr{ipnet("2001:db8::5"), ipnet("192.168.1.9")}, "192.168.1.9"},
		{"IPv6 only", []net.Addr{ipnet("::1"), ipnet("fe80::1"), ipnet("2001:db8::5")}, "2001:db8::5"},
		{"link-local IPv4 skipped", []net.Addr{ipnet("169.254.3.4")}, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pickAddr(tt.addrs); got != tt.want {
				t.Fatalf("pickAddr = %q, want %q", got, tt.want)
			}
		})
	}
}
