// libbpf-each [--pin-root DIR] [--all] OBJ: for every program of a BPF object, load that
// program alone with libbpf (every other program's autoload off; the object's maps are
// created as usual) and print one JSON line: {"name","section","loaded","xlated_insns",
// "type","error"}. A first line {"object":..,"programs":N} or {"object":..,"error":..}
// when it cannot open (or, with --all, load). --all loads the object once, as
// `bpftool prog loadall` does, and prints the programs it loaded. --pin-root is where
// LIBBPF_PIN_BY_NAME maps go instead of /sys/fs/bpf, so a comparison leaves no pins
// there and reuses none.
// Why: `bpftool prog loadall` is all-or-nothing per object, so one fentry program that
// this kernel refuses hides every other program's verdict; scripts/compare-libbpf.mjs
// compiles this (cc ... -lbpf, libbpf-dev) to compare program by program.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char logbuf[1 << 16];
static size_t loglen;

static int collect(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  if (loglen < sizeof(logbuf) - 1) {
    int n = vsnprintf(logbuf + loglen, sizeof(logbuf) - loglen, fmt, ap);
    if (n > 0) loglen += (size_t)n < sizeof(logbuf) - loglen ? (size_t)n : sizeof(logbuf) - loglen - 1;
  }
  return 0;
}

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c == '\n') fputs("\\n", stdout);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

// The last few lines libbpf printed: the reason, without the whole verifier log.
static const char *tail(void) {
  int lines = 0;
  size_t i = loglen;
  while (i > 0 && (logbuf[i - 1] == '\n')) logbuf[--i] = 0;
  while (i > 0) {
    if (logbuf[i - 1] == '\n' && ++lines == 4) break;
    i--;
  }
  return logbuf + i;
}

static void print_loaded(struct bpf_program *p) {
  struct bpf_prog_info info;
  __u32 len = sizeof(info);
  memset(&info, 0, sizeof(info));
  if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len)) {
    printf(",\"loaded\":true,\"error\":\"bpf_obj_get_info_by_fd failed\"");
  } else {
    printf(",\"loaded\":true,\"type\":%u,\"xlated_insns\":%u", info.type, info.xlated_prog_len / 8);
  }
}

static void object_error(const char *path) {
  printf("{\"object\":");
  json_str(path);
  printf(",\"error\":");
  json_str(tail());
  printf("}\n");
}

int main(int argc, char **argv) {
  const char *pin_root = NULL;
  int all = 0, a = 1;
  for (; a < argc - 1; a++) {
    if (!strcmp(argv[a], "--all")) all = 1;
    else if (!strcmp(argv[a], "--pin-root") && a + 1 < argc - 1) pin_root = argv[++a];
    else break;
  }
  if (a != argc - 1) {
    fprintf(stderr, "usage: libbpf-each [--pin-root DIR] [--all] OBJ.bpf.o\n");
    return 2;
  }
  const char *path = argv[a];
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);
  libbpf_set_print(collect);
  struct bpf_object *obj = bpf_object__open_file(path, &opts);
  if (!obj) {
    object_error(path);
    return 0;
  }
  struct bpf_program *p;
  if (all) {
    if (bpf_object__load(obj)) {
      object_error(path);
      bpf_object__close(obj);
      return 0;
    }
    printf("{\"object\":");
    json_str(path);
    printf(",\"loaded\":true}\n");
    bpf_object__for_each_program(p, obj) {
      if (bpf_program__fd(p) < 0) continue; /* autoload off */
      printf("{\"name\":");
      json_str(bpf_program__name(p));
      printf(",\"section\":");
      json_str(bpf_program__section_name(p));
      print_loaded(p);
      printf("}\n");
    }
    bpf_object__close(obj);
    return 0;
  }
  int n = 0;
  bpf_object__for_each_program(p, obj) n++;
  bpf_object__close(obj);
  printf("{\"object\":");
  json_str(path);
  printf(",\"programs\":%d}\n", n);
  for (int want = 0; want < n; want++) {
    loglen = 0;
    logbuf[0] = 0;
    obj = bpf_object__open_file(path, &opts);
    if (!obj) return 1;
    int i = 0;
    struct bpf_program *mine = NULL;
    bpf_object__for_each_program(p, obj) {
      if (i++ == want) mine = p;
      else bpf_program__set_autoload(p, false);
    }
    // `?` sections start with autoload off; asking for the program alone turns it on.
    bpf_program__set_autoload(mine, true);
    int err = bpf_object__load(obj);
    printf("{\"name\":");
    json_str(bpf_program__name(mine));
    printf(",\"section\":");
    json_str(bpf_program__section_name(mine));
    if (err) {
      printf(",\"loaded\":false,\"error\":");
      json_str(loglen ? tail() : strerror(-err));
    } else {
      print_loaded(mine);
    }
    printf("}\n");
    fflush(stdout);
    bpf_object__close(obj);
  }
  return 0;
}
