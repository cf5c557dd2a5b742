/*
 * env-exec: runs a container's command with env variables that must not
 * appear in its OCI spec (containerd keeps the spec in meta.db and in the
 * bundle's config.json, both readable by others).
 *
 *   env-exec ENV_FILE COMMAND [ARG...]
 *
 * ENV_FILE holds NAME=VALUE entries, each ended by a NUL byte. They replace
 * the inherited variables of the same name (or are added); then COMMAND is
 * looked up in PATH as runc looks up a container's args[0] (a name with a
 * '/' is used as it is) and executed in place of this program: same pid, so
 * it stays the container's pid 1 and gets its signals. When it cannot, it
 * prints one line on stderr and exits 127 (not found, or a bad ENV_FILE) or
 * 126 (found but not executable), as a shell does.
 *
 * Freestanding: no libc, raw system calls, one static binary per
 * architecture that runs in any image (scratch, distroless, musl, glibc).
 * Built by env_exec_build.ts into _env_exec_binaries.ts; see node/README.md.
 */

typedef unsigned long size_t;

/* Bounds: the kernel takes at most 2 MiB of args and env on a default
 * stack limit, and mill starts at most 1,000 env variables. */
#define ENV_FILE_BYTES_MAX (2 * 1024 * 1024)
#define ENV_ENTRIES_MAX 4096
#define PATH_BYTES_MAX 4096

#define AT_FDCWD (-100)
#define O_RDONLY 0
#define O_CLOEXEC 02000000
#define ENOENT 2
#define E2BIG 7
#define ENOEXEC 8
#define EACCES 13
#define ENOTDIR 20
#define ENAMETOOLONG 36

#if defined(__x86_64__)
#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_execve 59
#define SYS_exit_group 231
#define SYS_openat 257

static long syscall3(long number, long a, long b, long c) {
  long result;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a), "S"(b), "d"(c)
                   : "rcx", "r11", "memory");
  return result;
}

__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call start_c\n"
        "  hlt\n");
#elif defined(__aarch64__)
#define SYS_openat 56
#define SYS_close 57
#define SYS_read 63
#define SYS_write 64
#define SYS_exit_group 94
#define SYS_execve 221

static long syscall3(long number, long a, long b, long c) {
  register long x8 __asm__("x8") = number;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
}

__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  mov x29, #0\n"
        "  mov x30, #0\n"
        "  mov x0, sp\n"
        "  bl start_c\n");
#else
#error "env-exec supports x86_64 and aarch64"
#endif

static char file_bytes[ENV_FILE_BYTES_MAX + 1];
static char *env_out[ENV_ENTRIES_MAX + 1];
static char *file_entries[ENV_ENTRIES_MAX];
static char path_buffer[PATH_BYTES_MAX];

static size_t length_of(const char *text) {
  size_t n = 0;
  while (text[n] != '\0') n++;
  return n;
}

static void write_error(const char *text) {
  size_t left = length_of(text);
  while (left > 0) {
    long written = syscall3(SYS_write, 2, (long)text, (long)left);
    if (written <= 0) return;
    text += written;
    left -= (size_t)written;
  }
}

__attribute__((noreturn)) static void fail(const char *what, const char *name,
                                           const char *why, int status) {
  write_error("env-exec: ");
  write_error(what);
  if (name != 0) {
    write_error(" \"");
    write_error(name);
    write_error("\"");
  }
  if (why != 0) {
    write_error(": ");
    write_error(why);
  }
  write_error("\n");
  for (;;) syscall3(SYS_exit_group, status, 0, 0);
}

static const char *reason_of(long error) {
  switch (error) {
    case ENOENT: return "not found";
    case EACCES: return "permission denied";
    case ENOEXEC: return "exec format error";
    case E2BIG: return "argument list and environment too long";
    case ENOTDIR: return "not a directory";
    case ENAMETOOLONG: return "name too long";
    default: return "cannot execute";
  }
}

/* Reads ENV_FILE whole into file_bytes; returns its length. */
static size_t read_env_file(const char *path) {
  long fd = syscall3(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open env file", path, reason_of(-fd), 127);
  size_t size = 0;
  for (;;) {
    if (size > ENV_FILE_BYTES_MAX) {
      fail("env file", path, "larger than 2 MiB", 127);
    }
    long count = syscall3(SYS_read, fd, (long)(file_bytes + size),
                          (long)(ENV_FILE_BYTES_MAX + 1 - size));
    if (count < 0) fail("cannot read env file", path, reason_of(-count), 127);
    if (count == 0) break;
    size += (size_t)count;
  }
  syscall3(SYS_close, fd, 0, 0);
  if (size > 0 && file_bytes[size - 1] != '\0') {
    fail("env file", path, "does not end with a NUL byte", 127);
  }
  return size;
}

/* Length of the name of a NAME=VALUE entry; 0 when it has no '='. */
static size_t name_length(const char *entry) {
  for (size_t n = 0; entry[n] != '\0'; n++) {
    if (entry[n] == '=') return n;
  }
  return 0;
}

static int same_name(const char *a, const char *b, size_t length) {
  for (size_t i = 0; i < length; i++) {
    if (a[i] != b[i]) return 0;
  }
  return b[length] == '=';
}

static void add_entry(size_t *count, char *entry) {
  if (*count >= ENV_ENTRIES_MAX) fail("too many env variables", 0, 0, 127);
  env_out[(*count)++] = entry;
}

/* The inherited env less the names the file sets, then the file's. */
static void merge_env(char **inherited, size_t file_size, const char *path) {
  size_t file_count = 0;
  for (size_t at = 0; at < file_size;) {
    char *entry = file_bytes + at;
    if (name_length(entry) == 0) {
      fail("env file", path, "has an entry without NAME=", 127);
    }
    if (file_count >= ENV_ENTRIES_MAX) fail("too many env variables", 0, 0, 127);
    file_entries[file_count++] = entry;
    at += length_of(entry) + 1;
  }
  size_t count = 0;
  for (char **entry = inherited; *entry != 0; entry++) {
    size_t length = name_length(*entry);
    int replaced = 0;
    for (size_t i = 0; i < file_count && length > 0; i++) {
      if (same_name(*entry, file_entries[i], length)) replaced = 1;
    }
    if (!replaced) add_entry(&count, *entry);
  }
  for (size_t i = 0; i < file_count; i++) add_entry(&count, file_entries[i]);
  env_out[count] = 0;
}

static const char *path_of(void) {
  for (char **entry = env_out; *entry != 0; entry++) {
    const char *e = *entry;
    if (e[0] == 'P' && e[1] == 'A' && e[2] == 'T' && e[3] == 'H' &&
        e[4] == '=') {
      return e + 5;
    }
  }
  return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

static int has_slash(const char *text) {
  for (; *text != '\0'; text++) {
    if (*text == '/') return 1;
  }
  return 0;
}

/* Tries each PATH directory in turn, as execvp does. Returns on failure. */
static long exec_in_path(const char *name, char **argv) {
  const char *path = path_of();
  size_t name_len = length_of(name);
  long error = -ENOENT;
  int denied = 0;
  while (1) {
    const char *end = path;
    while (*end != '\0' && *end != ':') end++;
    size_t dir_len = (size_t)(end - path);
    const char *dir = dir_len == 0 ? "." : path;
    if (dir_len == 0) dir_len = 1;
    if (dir_len + 1 + name_len + 1 <= PATH_BYTES_MAX) {
      size_t at = 0;
      for (size_t i = 0; i < dir_len; i++) path_buffer[at++] = dir[i];
      path_buffer[at++] = '/';
      for (size_t i = 0; i < name_len; i++) path_buffer[at++] = name[i];
      path_buffer[at] = '\0';
      error = syscall3(SYS_execve, (long)path_buffer, (long)argv,
                       (long)env_out);
      if (error == -EACCES) {
        denied = 1;
      } else if (error != -ENOENT && error != -ENOTDIR &&
                 error != -ENAMETOOLONG) {
        return error;
      }
    }
    if (*end == '\0') break;
    path = end + 1;
  }
  return denied ? -EACCES : -ENOENT;
}

__attribute__((noreturn, used)) void start_c(long *stack) {
  long argc = stack[0];
  char **argv = (char **)(stack + 1);
  char **inherited = argv + argc + 1;
  if (argc < 3) fail("usage: env-exec ENV_FILE COMMAND [ARG...]", 0, 0, 127);
  size_t size = read_env_file(argv[1]);
  merge_env(inherited, size, argv[1]);
  const char *command = argv[2];
  long error = has_slash(command)
                   ? syscall3(SYS_execve, (long)command, (long)(argv + 2),
                              (long)env_out)
                   : exec_in_path(command, argv + 2);
  fail("cannot run", command, reason_of(-error), error == -ENOENT ? 127 : 126);
}
