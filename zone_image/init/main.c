/* edera-init: PID 1 of a zone. Boots the initramfs, serves the host's channel (PROTOCOL.md),
 * sets up the container from the SPEC, runs its process at START and exec'd processes on their
 * own channels, relays their stdio, signals and exit status, and powers the zone off at the end.
 *
 * One poll loop serves every channel. Each channel (session) carries one process: port 1 the
 * container's init process, ports >= 2 the exec'd ones and, in a pod's zone, the init processes
 * of the pod's further containers (pod.c). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cgroup.h"
#include "channel.h"
#include "config.h"
#include "container.h"
#include "launch.h"
#include "log.h"
#include "net.h"
#include "platform.h"
#include "pod.h"
#include "setup.h"
#include "stats.h"
#include "syscall_filter.h"

#define MAX_SESSIONS 64
#define OUT_HIGH (256 * 1024)  /* stop reading a process's output above this much queued */
#define STDIN_HIGH (1u << 20)  /* stop taking STDIN frames above this much unwritten */
#define DRAIN_MS 200           /* after death, how long a grandchild may hold the pipes */
#define ACK_MS 5000            /* how long to wait for EXIT_ACK */
#define CONNECT_MS 60000       /* how long an exec channel waits for the host to connect */
#define FIRST_EXEC_PORT 2

enum phase {
	P_SPEC,    /* port 1: waiting for SPEC */
	P_READY,   /* port 1 or a pod container: set up, waiting for START */
	P_CONNECT, /* exec port: waiting for the host to connect */
	P_RUNNING, /* the process runs (or died and its pipes are draining) */
	P_EXITED,  /* EXIT sent, waiting for EXIT_ACK */
};

struct proc {
	pid_t pid; /* 0 = not started */
	bool reaped;
	int status; /* mapped exit status */
	uint64_t died_ms;
	int in_fd, out_fd, err_fd;
	bool terminal;
	struct buf stdin_buf;
	bool stdin_eof; /* close stdin once stdin_buf is written */
};

struct session {
	bool used;
	struct channel ch;
	enum phase phase;
	struct proc_cfg cfg;
	char *pending_error; /* an EXEC that cannot run: reported once the host connects */
	struct proc proc;
	uint64_t ack_deadline; /* P_EXITED: for EXIT_ACK; P_CONNECT: for the host to connect */
	struct pod_ctr *pod;    /* a pod's further container on this channel (CONTAINER) */
	struct pod_ctr *target; /* an exec into that container (NULL: into the zone's own) */
};

static struct {
	struct platform pl;
	struct session s[MAX_SESSIONS]; /* s[0] is port 1 */
	struct container_cfg ctr;
	void *container_filter; /* linux.seccomp of the container (NULL: none), for execs */
	int sigfd;
} g;

static struct session *const init_session = &g.s[0];

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void session_free(struct session *s)
{
	if (s->pod) {
		/* Its execs lose their container: the ones not started yet fail when the host
		 * connects; running ones were killed with it. */
		for (int i = 0; i < MAX_SESSIONS; i++)
			if (g.s[i].used && g.s[i].target == s->pod) {
				g.s[i].target = NULL;
				if (!g.s[i].proc.pid && !g.s[i].pending_error)
					g.s[i].pending_error = xstrdup("exec: the container has ended");
			}
		pod_free(s->pod);
	}
	chan_close(&s->ch);
	proc_cfg_free(&s->cfg);
	free(s->pending_error);
	close_fd(&s->proc.in_fd);
	close_fd(&s->proc.out_fd);
	close_fd(&s->proc.err_fd);
	buf_free(&s->proc.stdin_buf);
	memset(s, 0, sizeof *s);
}

static void session_init(struct session *s, int port, struct transport *t, enum phase phase)
{
	memset(s, 0, sizeof *s);
	s->used = true;
	s->ch.port = port;
	s->ch.tr = t;
	s->phase = phase;
	s->proc.in_fd = s->proc.out_fd = s->proc.err_fd = -1;
}

static void send_exit(struct session *s, int status)
{
	uint8_t payload[4 + RECORD_HDR + 24];
	size_t len = 4;
	put_u32(payload, (uint32_t)status);
	if (s == init_session) {
		/* The durable copy first: the host may read it if the EXIT frame is lost. */
		platform_exit_status(status);
		platform_state("exited");
		/* An OOM kill in the container's cgroup is reported as such (runc's oom event). */
		long long ooms = cgroup_oom_kills();
		if (ooms > 0) {
			char v[24];
			int k = snprintf(v, sizeof v, "%lld", ooms);
			len += record_encode(payload + len, TAG_OOM_KILLS, v, (uint32_t)k);
			log_msg("the OOM killer ended %lld of the container's processes", ooms);
		}
	}
	chan_send(&s->ch, MSG_EXIT, payload, len);
	s->phase = P_EXITED;
	s->ack_deadline = now_ms() + ACK_MS;
}

static void send_error_exit(struct session *s, const char *msg, int status)
{
	log_msg("port %d: %s", s->ch.port, msg);
	chan_send(&s->ch, MSG_ERROR, msg, strlen(msg));
	send_exit(s, status);
}

static void start_process(struct session *s)
{
	char err[ERR_MAX];
	struct launch_io io;
	pid_t pid;
	if (s == init_session) {
		pid = container_start(&s->cfg, &io, err);
	} else if (s->pod) {
		pid = pod_start(s->pod, &s->cfg, &io, err);
	} else if (s->target) {
		container_cur = &s->target->st;
		pid = launch(&s->cfg, pod_root(s->target, &g.pl), &io, err);
		container_cur = &container_first;
	} else {
		pid = launch(&s->cfg, g.pl.root, &io, err);
	}
	if (pid < 0) {
		send_error_exit(s, err, 1);
		return;
	}
	s->proc.pid = pid;
	s->proc.in_fd = io.stdin_w;
	s->proc.out_fd = io.stdout_r;
	s->proc.err_fd = io.stderr_r;
	s->proc.terminal = s->cfg.terminal;
	s->phase = P_RUNNING;
	chan_send_u32(&s->ch, MSG_STARTED, (uint32_t)pid);
	if (s == init_session)
		platform_state("running");
	log_msg("port %d: started %s as pid %d", s->ch.port, s->cfg.argv[0], pid);
}

/* linux.seccomp of a process, built in PID 1 so a bad profile is an ERROR. A process without
 * SECCOMP records gets `inherited`: for an exec, its container's filter, as runc gives exec the
 * container's; for a container (SPEC, CONTAINER), none. */
static int prepare_filter(struct proc_cfg *cfg, void *inherited, char err[ERR_MAX])
{
	if (!cfg->seccomp.present) {
		cfg->filter = inherited;
		cfg->owns_filter = false;
		return 0;
	}
	struct filter_stats st;
	if (filter_build(&cfg->seccomp, &cfg->filter, &st, err) < 0)
		return -1;
	cfg->owns_filter = true;
	log_msg("seccomp: %zu rules, %zu unknown syscall names skipped, %zu rules with the "
		"default action skipped, ENOSYS stub of %zu instructions", st.rules,
		st.unknown_names, st.same_as_default, st.stub);
	return 0;
}

static void handle_spec(struct session *s, const uint8_t *p, uint32_t len)
{
	char err[ERR_MAX], msg[ERR_MAX + 16];
	if (config_parse(p, len, &s->cfg, &g.ctr, err) < 0 ||
	    prepare_filter(&s->cfg, NULL, err) < 0) {
		snprintf(msg, sizeof msg, "spec: %s", err);
		send_error_exit(s, msg, 1);
		return;
	}
	/* The container's filter outlives the init session's config: exec'd processes use it. */
	g.container_filter = s->cfg.filter;
	s->cfg.owns_filter = false;
	if (!g.pl.apply_setup && g.ctr.nrecords)
		log_msg("host test without EDERA_INIT_ROOT: %zu container records not applied",
			g.ctr.nrecords);
	if (!g.pl.zone && g.pl.host_net && net_setup(&g.ctr, err) < 0) {
		send_error_exit(s, err, 1);
		return;
	}
	if (container_create(&g.ctr, &s->cfg, &g.pl, err) < 0) {
		send_error_exit(s, err, 1);
		return;
	}
	chan_send(&s->ch, MSG_READY, NULL, 0);
	platform_state("ready");
	s->phase = P_READY;
}

/* Does an open channel hold this exec port? (A detached exec's process keeps its session
 * until it is reaped, but its channel, and so its port, are gone.) */
static bool port_in_use(uint32_t port)
{
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (g.s[i].used && g.s[i].ch.tr && (uint32_t)g.s[i].ch.port == port)
			return true;
	return false;
}

/* EXEC with port 0: the zone picks the lowest free port and answers EXEC_PORT on port 1 (in the
 * order of the EXEC frames), with port 0 and the reason when it cannot. Ports are free again
 * once their session ends, so they never run out. A port the host names itself (>= 2) is
 * taken as given and not answered. */
static void exec_refuse(struct session *from, uint32_t reply_type, uint32_t chosen,
			const char *why)
{
	log_msg("%s: %s", reply_type == MSG_EXEC_PORT ? "EXEC" : "CONTAINER", why);
	if (chosen)
		return; /* the host chose the port: it learns nothing from port 1 (as before) */
	uint8_t reply[4 + ERR_MAX] = {0};
	size_t n = strlen(why) < ERR_MAX ? strlen(why) : ERR_MAX;
	memcpy(reply + 4, why, n);
	chan_send(&from->ch, reply_type, reply, 4 + n);
}

/* EXEC (on port 1, or on a pod container's port: an exec into that container) and CONTAINER
 * (port 1 of a pod's zone: one more container), both answered on the channel they came on. */
static void handle_exec(struct session *from, uint32_t type, const uint8_t *p, uint32_t len)
{
	uint32_t reply_type = type == MSG_CONTAINER ? MSG_CONTAINER_PORT : MSG_EXEC_PORT;
	if (len < 4) {
		log_msg("EXEC frame of %u bytes has no port; ignored", len);
		return;
	}
	uint32_t chosen = get_u32(p), port = chosen;
	struct session *s = NULL;
	for (int i = 0; i < MAX_SESSIONS && !s; i++)
		if (!g.s[i].used)
			s = &g.s[i];
	if (!s) {
		char why[96];
		snprintf(why, sizeof why, "too many execs at once (at most %d, pod containers "
			 "included)", MAX_SESSIONS - 1);
		exec_refuse(from, reply_type, chosen, why);
		return;
	}
	if (!chosen) {
		for (port = FIRST_EXEC_PORT; port_in_use(port); port++)
			;
	} else if (chosen < FIRST_EXEC_PORT || chosen > 65535) {
		log_msg("EXEC: port %u is invalid; ignored", chosen);
		return;
	} else if (port_in_use(chosen)) {
		log_msg("EXEC: port %u is in use; ignored", chosen);
		return;
	}
	char err[ERR_MAX];
	struct transport *t = tr_listen((int)port, err);
	if (!t) {
		exec_refuse(from, reply_type, chosen, err);
		return;
	}
	session_init(s, (int)port, t, P_CONNECT);
	s->ack_deadline = now_ms() + CONNECT_MS;
	s->target = from->pod;
	if (type == MSG_CONTAINER) {
		/* Set up now (as SPEC is); READY, or the error, once the host has connected. */
		if (init_session->phase != P_READY && init_session->phase != P_RUNNING) {
			s->pending_error = xstrdup("container: the pod's sandbox is not running");
		} else {
			s->pod = pod_create(p + 4, len - 4, &s->cfg, &g.pl, container_first.pid,
					    container_first.ns_flags, err);
			if (!s->pod) {
				char msg[ERR_MAX + 16];
				snprintf(msg, sizeof msg, "container: %s", err);
				s->pending_error = xstrdup(msg);
			}
		}
		if (s->pod) {
			/* its own filter (or none), for its execs too: the pod owns it */
			s->pod->filter = s->cfg.filter;
			s->cfg.owns_filter = false;
		}
	} else if (config_parse(p + 4, len - 4, &s->cfg, NULL, err) < 0 ||
		   prepare_filter(&s->cfg, from->pod ? from->pod->filter : g.container_filter,
				  err) < 0) {
		char msg[ERR_MAX + 16];
		snprintf(msg, sizeof msg, "exec: %s", err);
		s->pending_error = xstrdup(msg);
	} else if (from->phase != P_READY && from->phase != P_RUNNING) {
		s->pending_error = xstrdup("exec: the container is not running");
	}
	if (!chosen)
		chan_send_u32(&from->ch, reply_type, port);
}

/* UPDATE: new limits for the cgroup of the channel's container (the zone's own on port 1, a
 * pod's further container on its own port); answered with UPDATE (empty = applied). */
static void handle_update(struct session *s, const uint8_t *p, uint32_t len)
{
	char err[ERR_MAX];
	if (s->phase != P_READY && s->phase != P_RUNNING)
		snprintf(err, sizeof err, "the container is not running");
	else if (s->pod && !s->pod->cgroup_made)
		snprintf(err, sizeof err, "the zone has no cgroup for the container");
	else if (cgroup_update(s->pod ? s->pod->cgroup : NULL, s->pod ? &s->pod->device_prog : NULL,
			       p, len, err) == 0)
		err[0] = 0;
	if (err[0])
		log_msg("update refused: %s", err);
	chan_send(&s->ch, MSG_UPDATE, err, strlen(err));
}

/* Does this signal end a process that does not handle it? */
static bool fatal_by_default(int sig)
{
	switch (sig) {
	case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
	case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
		return false;
	}
	return true;
}

static void handle_signal(struct session *s, const uint8_t *p, uint32_t len)
{
	if (len < 8) {
		log_msg("port %d: SIGNAL frame of %u bytes; ignored", s->ch.port, len);
		return;
	}
	uint32_t sig = get_u32(p), flags = get_u32(p + 4);
	if (sig == 0 || sig >= (uint32_t)NSIG) {
		log_msg("port %d: signal %u is out of range; ignored", s->ch.port, sig);
		return;
	}
	if (flags & 1) {
		if (s->pod)
			pod_kill_all(s->pod, (int)sig); /* its processes, not the pod's */
		else
			platform_kill_all((int)sig);
	}
	if ((s == init_session || s->pod) && s->phase == P_READY) {
		/* Killing a created container that never started ends it as if it had been
		 * killed (runc's waiting init would die the same way). */
		if (fatal_by_default((int)sig)) {
			log_msg("signal %u before START: the container ends", sig);
			send_exit(s, 128 + (int)sig);
		}
		return;
	}
	if (!(flags & 1) && s->proc.pid && !s->proc.reaped)
		kill(s->proc.pid, (int)sig);
}

static void handle_resize(struct session *s, const uint8_t *p, uint32_t len)
{
	if (len < 4)
		return;
	struct winsize ws = {.ws_row = get_u16(p), .ws_col = get_u16(p + 2)};
	if (!s->proc.pid) {
		s->cfg.rows = ws.ws_row; /* applied when the terminal is made */
		s->cfg.cols = ws.ws_col;
	} else if (s->proc.terminal && s->proc.out_fd >= 0) {
		ioctl(s->proc.out_fd, TIOCSWINSZ, &ws);
	}
}

/* Returns false when the frame must wait (its process's stdin is backed up). */
static bool handle_frame(struct session *s, uint32_t type, const uint8_t *p, uint32_t len)
{
	struct proc *pr = &s->proc;
	switch (type) {
	case MSG_SPEC:
		if (s == init_session && s->phase == P_SPEC)
			handle_spec(s, p, len);
		else
			log_msg("port %d: unexpected SPEC; ignored", s->ch.port);
		break;
	case MSG_START:
		if ((s == init_session || s->pod) && s->phase == P_READY)
			start_process(s);
		else
			log_msg("port %d: unexpected START; ignored", s->ch.port);
		break;
	case MSG_STDIN:
		/* Before the process starts, keep everything: START may be queued behind it. */
		if (pr->pid && pr->stdin_buf.len >= STDIN_HIGH)
			return false;
		if (!pr->stdin_eof && (!pr->pid || pr->in_fd >= 0))
			buf_append(&pr->stdin_buf, p, len);
		break;
	case MSG_STDIN_EOF:
		pr->stdin_eof = true;
		break;
	case MSG_SIGNAL:
		handle_signal(s, p, len);
		break;
	case MSG_RESIZE:
		handle_resize(s, p, len);
		break;
	case MSG_EXEC:
		if (s == init_session || s->pod)
			handle_exec(s, type, p, len);
		else
			log_msg("port %d: EXEC is only taken on a container's port; ignored",
				s->ch.port);
		break;
	case MSG_CONTAINER:
		if (s == init_session)
			handle_exec(s, type, p, len);
		else
			log_msg("port %d: CONTAINER is only taken on port 1; ignored", s->ch.port);
		break;
	case MSG_EXIT_ACK:
		if (s->phase == P_EXITED) {
			if (s == init_session)
				platform_poweroff(0);
			session_free(s);
			return false;
		}
		break;
	case MSG_UPDATE:
		if (s == init_session || s->pod)
			handle_update(s, p, len);
		else
			log_msg("port %d: UPDATE is only taken on a container's port; ignored",
				s->ch.port);
		break;
	case MSG_STATS_REQ: {
		/* Within the host's limit for a STATS frame (4096). */
		char text[3900];
		/* A pod's further container: its own cgroup (none without cgroups: the zone's). */
		const char *dir = s->pod ? s->pod->st.cgroup_dir : cgroup_dir();
		size_t n = stats_collect(dir, text, sizeof text);
		chan_send(&s->ch, MSG_STATS, text, n);
		break;
	}
	default:
		break; /* unknown types are ignored (forward compatibility) */
	}
	return true;
}

static void dispatch(struct session *s)
{
	for (;;) {
		uint32_t type, len;
		const uint8_t *payload;
		size_t total;
		if (chan_next(&s->ch, &type, &payload, &len, &total) != 1)
			return;
		if (!handle_frame(s, type, payload, len))
			return; /* backed up, or the session is gone */
		if (!s->used)
			return;
		buf_consume(&s->ch.in, total);
	}
}

static void relay(struct session *s, int *fd, uint32_t type)
{
	static char buf[65536];
	while (*fd >= 0 && s->ch.out.len < OUT_HIGH) {
		ssize_t n = read(*fd, buf, sizeof buf);
		if (n > 0) {
			chan_send(&s->ch, type, buf, n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* EOF; or EIO from a pty master once no one holds the terminal. */
		close_fd(fd);
	}
}

static void feed_stdin(struct proc *p)
{
	while (p->in_fd >= 0 && p->stdin_buf.len) {
		ssize_t n = write(p->in_fd, buf_head(&p->stdin_buf), p->stdin_buf.len);
		if (n > 0) {
			buf_consume(&p->stdin_buf, n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* The reader is gone (EPIPE): nothing more can be delivered. */
		buf_consume(&p->stdin_buf, p->stdin_buf.len);
		close_fd(&p->in_fd);
	}
	/* A terminal has no half-close (as with runc, stdin EOF leaves it open). */
	if (p->in_fd >= 0 && p->stdin_eof && !p->stdin_buf.len && !p->terminal)
		close_fd(&p->in_fd);
}

static void check_exit(struct session *s)
{
	struct proc *p = &s->proc;
	if (s->phase != P_RUNNING || !p->reaped)
		return;
	/* Pipes still open after DRAIN_MS are held by a grandchild; but while the host is slow to
	 * read (output backed up) they are simply unread, so keep waiting for it. */
	if ((p->out_fd >= 0 || p->err_fd >= 0) &&
	    (now_ms() < p->died_ms + DRAIN_MS || s->ch.out.len >= OUT_HIGH))
		return;
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	close_fd(&p->in_fd);
	buf_free(&p->stdin_buf);
	log_msg("port %d: pid %d exited with status %d", s->ch.port, p->pid, p->status);
	send_exit(s, p->status);
}

/* The host closed the channel (or broke the protocol). */
static void channel_gone(struct session *s)
{
	if (s == init_session) {
		if (s->phase != P_EXITED)
			log_msg("the host closed the container's channel; stopping the zone");
		platform_poweroff(s->phase == P_EXITED ? 0 : 1);
	}
	/* A pod container whose monitor went away is over (the host counts it stopped). */
	if (s->pod) {
		if (s->phase != P_EXITED)
			log_msg("port %d: the host closed the channel; pod container %s is killed",
				s->ch.port, s->pod->name);
		session_free(s);
		return;
	}
	/* An exec whose client went away: its process keeps running, unheard (as when a
	 * `runc exec` client dies); its pipes close so it sees EPIPE/EOF. */
	if (s->proc.pid && !s->proc.reaped) {
		log_msg("port %d: the host closed the channel; pid %d continues detached",
			s->ch.port, s->proc.pid);
		close_fd(&s->proc.in_fd);
		close_fd(&s->proc.out_fd);
		close_fd(&s->proc.err_fd);
		buf_free(&s->proc.stdin_buf);
		chan_close(&s->ch);
		return;
	}
	session_free(s);
}

static void service(struct session *s)
{
	struct proc *p = &s->proc;
	if (s->ch.tr) {
		chan_flush(&s->ch);
		/* Read and handle until the transport is empty or a frame must wait. */
		do
			dispatch(s);
		while (s->used && s->ch.tr && chan_fill(&s->ch));
		if (!s->used)
			return;
		if (s->ch.tr && s->phase == P_CONNECT && tr_state(s->ch.tr) == TR_OPEN) {
			if (s->pending_error) {
				send_error_exit(s, s->pending_error, 1);
			} else if (s->pod) {
				chan_send(&s->ch, MSG_READY, NULL, 0);
				s->phase = P_READY;
			} else {
				start_process(s);
			}
		}
	}
	if (s->ch.tr && s->phase == P_CONNECT && now_ms() >= s->ack_deadline) {
		log_msg("port %d: the host did not connect within %d ms; closed", s->ch.port,
			CONNECT_MS);
		session_free(s);
		return;
	}
	if (!s->ch.tr) {
		/* Detached exec: forget it once its process is reaped. */
		if (p->reaped || !p->pid)
			session_free(s);
		return;
	}
	relay(s, &p->out_fd, MSG_STDOUT);
	relay(s, &p->err_fd, MSG_STDERR);
	feed_stdin(p);
	check_exit(s);
	if (s->phase == P_EXITED && now_ms() >= s->ack_deadline) {
		if (s == init_session) {
			log_msg("no EXIT_ACK within %d ms", ACK_MS);
			chan_flush(&s->ch);
			platform_poweroff(0);
		}
		session_free(s);
		return;
	}
	chan_flush(&s->ch);
	if (s->ch.gone)
		channel_gone(s);
}

static void reap(void)
{
	struct signalfd_siginfo si;
	while (read(g.sigfd, &si, sizeof si) == sizeof si)
		;
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < MAX_SESSIONS; i++) {
			struct session *s = &g.s[i];
			if (!s->used || s->proc.pid != pid)
				continue;
			s->proc.reaped = true;
			s->proc.status = map_status(st);
			s->proc.died_ms = now_ms();
			if (s->pod)
				s->pod->st.pid = 0; /* gone: never signalled again */
			/* When the container's init dies, so does the container (as in a pid
			 * namespace): the rest are killed, which also lets their pipes reach EOF. */
			if (s == init_session)
				platform_kill_all(SIGKILL);
		}
	}
}

static int add_poll(struct pollfd *fds, int *n, int fd, short events)
{
	fds[*n] = (struct pollfd){.fd = fd, .events = events};
	return (*n)++;
}

static void loop(void)
{
	/* Per session: transport, stdout, stderr, stdin; plus the signalfd. */
	static struct pollfd fds[MAX_SESSIONS * 4 + 1];
	int tr_index[MAX_SESSIONS];
	for (;;) {
		for (int i = 0; i < MAX_SESSIONS; i++)
			if (g.s[i].used)
				service(&g.s[i]);

		int n = 0;
		int timeout = -1;
		uint64_t now = now_ms();
		add_poll(fds, &n, g.sigfd, POLLIN);
		for (int i = 0; i < MAX_SESSIONS; i++) {
			struct session *s = &g.s[i];
			struct proc *p = &s->proc;
			tr_index[i] = -1;
			if (!s->used)
				continue;
			if (s->ch.tr)
				tr_index[i] = add_poll(fds, &n, tr_fd(s->ch.tr),
						       tr_poll_events(s->ch.tr, s->ch.out.len > 0));
			if (s->ch.out.len < OUT_HIGH) {
				if (p->out_fd >= 0)
					add_poll(fds, &n, p->out_fd, POLLIN);
				if (p->err_fd >= 0)
					add_poll(fds, &n, p->err_fd, POLLIN);
			}
			if (p->in_fd >= 0 && p->stdin_buf.len)
				add_poll(fds, &n, p->in_fd, POLLOUT);
			uint64_t deadline = 0;
			if (s->phase == P_RUNNING && p->reaped && s->ch.out.len < OUT_HIGH)
				deadline = p->died_ms + DRAIN_MS;
			else if (s->phase == P_EXITED || s->phase == P_CONNECT)
				deadline = s->ack_deadline;
			if (deadline) {
				int ms = deadline > now ? (int)(deadline - now) : 0;
				if (timeout < 0 || ms < timeout)
					timeout = ms;
			}
		}
		if (poll(fds, n, timeout) < 0 && errno != EINTR) {
			log_msg("poll: %s", strerror(errno));
			usleep(100000);
			continue;
		}
		if (fds[0].revents)
			reap();
		for (int i = 0; i < MAX_SESSIONS; i++)
			if (tr_index[i] >= 0 && fds[tr_index[i]].revents && g.s[i].ch.tr)
				tr_event(g.s[i].ch.tr, fds[tr_index[i]].revents);
	}
}

int main(void)
{
	platform_init(&g.pl);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	g.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	if (g.sigfd < 0) {
		log_msg("signalfd: %s", strerror(errno));
		platform_poweroff(1);
	}

	char err[ERR_MAX];
	struct transport *t = tr_listen(1, err);
	if (!t) {
		log_msg("cannot open the host channel: %s", err);
		platform_poweroff(1);
	}
	session_init(init_session, 1, t, P_SPEC);
	platform_state("listening");
	log_msg("protocol %d: waiting for the host on port 1", PROTOCOL_VERSION);
	loop();
	return 0;
}
