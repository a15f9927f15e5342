package main

import "golang.org/x/sys/unix"

// pseudoFS names the kernel's pseudo file system dir is on (/proc, /sys
// and the like), where no state directory can be made, or "". As root,
// access(2) says such directories are writable (operator trial:
// state_dir = "/proc/foo" passed the check, and serve failed to mkdir).
func pseudoFS(dir string) string {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return ""
	}
	switch int64(st.Type) {
	case unix.PROC_SUPER_MAGIC:
		return "proc"
	case unix.SYSFS_MAGIC:
		return "sysfs"
	case unix.CGROUP_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC:
		return "cgroup"
	case unix.DEVPTS_SUPER_MAGIC:
		return "devpts"
	case unix.DEBUGFS_MAGIC, unix.TRACEFS_MAGIC, unix.SECURITYFS_MAGIC, unix.BPF_FS_MAGIC:
		return "a kernel debugging file system"
	}
	return ""
}
