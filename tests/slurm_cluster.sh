# shellcheck shell=bash
# A one-node Slurm cluster on this machine, for tests and benchmarks. Source this file, then
#
#   slurm_up DIR     # munge key, munged, slurmctld, slurmd, all with state/logs/pids in DIR
#   ...              # sbatch/squeue/scontrol/sinfo talk to it (SLURM_CONF is exported)
#   slurm_down       # scancels what is left, stops exactly the daemons slurm_up started (by
#                    # pid, TERM then KILL after 10 s) and removes DIR
#
# slurm_up returns 0 when the node is idle, 77 when the cluster cannot run here (not root,
# packages missing and not installable, a daemon that does not start), with the reason in
# SC_WHY and the daemon logs' tails on stderr. Debian 12 packages: slurm-wlm, munge
# (installed with apt-get when missing and running as root). Else nothing outside DIR is written,
# no system service is touched: munged listens on DIR/munge/munge.socket (AuthInfo=socket=...),
# slurmctld and slurmd on two free TCP ports picked at start.
#
# Environment: SC_NICE (default 10) nice value of the daemons (jobs inherit it:
# PropagatePrioProcess=0); SC_UP_TIMEOUT (default 60) seconds to wait for each daemon. The
# caller's SLURM_*/SBATCH_* variables (a job of another cluster) are unset.

SC_PIDS=()   # "name:pid", in start order
SC_DIR=""
SC_WHY=""
SC_NODE=""

_slurm_log() { echo "slurm_cluster: $*" >&2; }

_slurm_fail() { # reason -> prints daemon log tails, returns 77
	SC_WHY=$1
	_slurm_log "cannot start the cluster: $1"
	local f
	for f in "$SC_DIR"/log/*; do
		[ -s "$f" ] || continue
		_slurm_log "--- tail of $f"
		tail -n 15 "$f" >&2
	done
	return 77
}

_slurm_packages() { # installs slurm-wlm + munge when missing (root only)
	local missing=() p
	for p in slurm-wlm munge; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	command -v apt-get >/dev/null || { SC_WHY="packages ${missing[*]} missing, no apt-get"; return 1; }
	[ "$(id -u)" -eq 0 ] || { SC_WHY="packages ${missing[*]} missing and not root"; return 1; }
	_slurm_log "installing ${missing[*]} (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 || true;
		  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; } ||
		{ SC_WHY="apt-get install ${missing[*]} failed (registry unreachable?)"; return 1; }
}

_slurm_free_ports() { # prints two free TCP ports on 127.0.0.1
	python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

_slurm_wait() { # seconds daemon|- command... : polls every 0.2 s until the command succeeds;
	# gives up early when the named daemon (one we started) has exited
	local t=$1 d=$2 i; shift 2
	for ((i = 0; i < t * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		[ "$d" = - ] || _slurm_alive "$d" || return 1
		sleep 0.2
	done
	return 1
}

_slurm_alive() { # name -> 0 when the daemon we started under that name still runs
	local e
	for e in "${SC_PIDS[@]}"; do
		[ "${e%%:*}" = "$1" ] && kill -0 "${e#*:}" 2>/dev/null && return 0
	done
	return 1
}

_slurm_start() { # name logfile command... : starts a daemon in the foreground mode, records pid
	local name=$1 out=$2; shift 2
	nice -n "${SC_NICE:-10}" "$@" </dev/null >"$out" 2>&1 &
	SC_PIDS+=("$name:$!")
}

_slurm_node_idle() {
	[ "$(sinfo -h -N -n "$SC_NODE" -o %T 2>/dev/null)" = idle ]
}

slurm_up() { # DIR
	SC_DIR=$(realpath -m "${1:?usage: slurm_up DIR}")
	SC_WHY=""
	local t=${SC_UP_TIMEOUT:-60} c v
	# inside a job of another cluster, its SLURM_*/SBATCH_* variables would steer our clients
	for v in $(compgen -e); do
		case $v in SLURM_* | SBATCH_* | SQUEUE_* | SINFO_* | SALLOC_* | SRUN_* | SCONTROL_*) unset "$v" ;; esac
	done
	[ "$(id -u)" -eq 0 ] || { _slurm_log "skip: slurmd must run as root to launch jobs"; SC_WHY="not root"; return 77; }
	_slurm_packages || { _slurm_log "skip: $SC_WHY"; return 77; }
	for c in munged munge unmunge slurmctld slurmd sbatch squeue scontrol sinfo python3; do
		command -v "$c" >/dev/null || { SC_WHY="$c not found"; _slurm_log "skip: $SC_WHY"; return 77; }
	done
	mkdir -p "$SC_DIR"/{munge,state,spool,log,run}
	# munged wants every directory above its socket traversable by all
	local up=$SC_DIR
	while up=$(dirname "$up") && [ "$up" != / ]; do
		[ -x "$up" ] && [ "$(stat -c %A "$up" | cut -c10)" != - ] ||
			{ _slurm_fail "$up is not traversable by others (munged needs it): chmod o+x it"; return 77; }
	done
	# munged refuses a socket under a directory others cannot traverse; the key stays 0400
	chmod 0755 "$SC_DIR" "$SC_DIR/munge"
	chmod 0700 "$SC_DIR/state" "$SC_DIR/spool"
	local M=$SC_DIR/munge
	dd if=/dev/urandom of="$M/munge.key" bs=1024 count=1 status=none && chmod 0400 "$M/munge.key"
	_slurm_start munged "$SC_DIR/log/munged.out" munged --foreground \
		--key-file="$M/munge.key" --socket="$M/munge.socket" --pid-file="$SC_DIR/run/munged.pid" \
		--log-file="$SC_DIR/log/munged.log" --seed-file="$M/munged.seed"
	_slurm_wait "$t" munged sh -c "munge -n -S '$M/munge.socket' | unmunge -S '$M/munge.socket'" ||
		{ _slurm_fail "munged did not answer on $M/munge.socket"; return 77; }

	# the node as slurmd sees it (CPUs, sockets, cores, threads, RealMemory), named hostname -s
	SC_NODE=$(hostname -s)
	local hw ports
	hw=$(slurmd -C 2>/dev/null | head -n 1 | sed -E 's/^NodeName=[^ ]+ //; s/ UpTime=.*//')
	case $hw in CPUs=*) ;; *) _slurm_fail "slurmd -C printed no node line"; return 77 ;; esac
	ports=$(_slurm_free_ports) || { _slurm_fail "no free TCP ports"; return 77; }
	export SLURM_CONF=$SC_DIR/slurm.conf
	cat >"$SLURM_CONF" <<EOF
# generated by tests/slurm_cluster.sh: one node, this host, everything under $SC_DIR
ClusterName=mmaudit
SlurmctldHost=$SC_NODE(127.0.0.1)
SlurmctldPort=${ports% *}
SlurmdPort=${ports#* }
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$M/munge.socket
StateSaveLocation=$SC_DIR/state
SlurmdSpoolDir=$SC_DIR/spool
SlurmctldPidFile=$SC_DIR/run/slurmctld.pid
SlurmdPidFile=$SC_DIR/run/slurmd.pid
SlurmctldLogFile=$SC_DIR/log/slurmctld.log
SlurmdLogFile=$SC_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
ReturnToService=2
MinJobAge=3600
InactiveLimit=0
KillWait=5
MailProg=/bin/true
NodeName=$SC_NODE NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=main Nodes=$SC_NODE Default=YES MaxTime=INFINITE State=UP
EOF
	_slurm_start slurmctld "$SC_DIR/log/slurmctld.out" slurmctld -D -c -f "$SLURM_CONF"
	_slurm_wait "$t" slurmctld sh -c 'scontrol ping | grep -q UP' ||
		{ _slurm_fail "slurmctld did not answer scontrol ping"; return 77; }
	_slurm_start slurmd "$SC_DIR/log/slurmd.out" slurmd -D -f "$SLURM_CONF" -N "$SC_NODE"
	_slurm_wait "$t" slurmd _slurm_node_idle || {
		_slurm_alive slurmd || { _slurm_fail "slurmd exited"; return 77; }
		_slurm_fail "node $SC_NODE not idle after ${t}s: $(sinfo -h -N -o '%T %E' 2>&1)"
		return 77
	}
	return 0
}

slurm_down() { # stops what slurm_up started (safe to call twice, or after a failed slurm_up)
	local i e pid n
	if [ -n "${SLURM_CONF:-}" ] && _slurm_alive slurmctld; then
		scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
		# wait for the jobs' processes (slurmstepd and their children) to be gone
		_slurm_wait 15 - sh -c '[ -z "$(squeue -h -o %i)" ]' || true
	fi
	for ((i = ${#SC_PIDS[@]} - 1; i >= 0; i--)); do # reverse start order
		e=${SC_PIDS[i]}
		pid=${e#*:}
		kill -TERM "$pid" 2>/dev/null || continue
		for ((n = 0; n < 50; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -0 "$pid" 2>/dev/null && { _slurm_log "${e%%:*} ($pid) ignored TERM: KILL"; kill -KILL "$pid" 2>/dev/null; }
		wait "$pid" 2>/dev/null || true
	done
	SC_PIDS=()
	[ -n "$SC_DIR" ] && rm -rf "$SC_DIR"
	SC_DIR=""
	unset SLURM_CONF
	return 0
}
