/* src/plugin_file.c - what a plugin's name and file must be before the
 * registry opens anything: a name is never a path, and a file is a
 * complete shared object that only you and root can change (OpenSSH's
 * StrictModes, for the code pipette runs). It is not a loader: dlopen
 * still refuses what it cannot load, and says why. */
#define _GNU_SOURCE /* realpath with NULL, ElfW */
#include <config.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <link.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

int pp_plugin_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > PP_PLUGIN_NAME_MAX || strstr(name, ".."))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '-' && c != '.')))
            return 0;
    }
    return 1;
}

pp_status pp_plugin_name_check(const char *name, pp_error *err)
{
    if (pp_plugin_name_ok(name))
        return PP_OK;
    return pp_error_set(err, PP_ERR_CONFIG,
        "'%s' is not a plugin name: plugins are found by name, never by "
        "path, and a name is 1 to %d lowercase letters, digits, '_', '-' "
        "or '.', starting with a letter or digit, without '..'", name,
        PP_PLUGIN_NAME_MAX);
}

/* "nobody (uid 65534)", or "uid 1234" for one with no name. */
static const char *user_text(uid_t uid, char *buf, size_t size)
{
    struct passwd pw, *found = NULL;
    char room[4096];
    if (getpwuid_r(uid, &pw, room, sizeof room, &found) == 0 && found)
        snprintf(buf, size, "%s (uid %u)", pw.pw_name, (unsigned)uid);
    else
        snprintf(buf, size, "uid %u", (unsigned)uid);
    return buf;
}

/* Whether sb's group is its owner's own (a user private group: the
 * owner's primary group, of the owner's name, no one else a member), as
 * Debian's OpenSSH allows: with umask 002 everything a user makes is
 * group-writable, and only that user is in the group. */
static int private_group(const struct stat *sb)
{
    struct passwd pw, *user = NULL;
    struct group gr, *group = NULL;
    char room[2][8192];
    if (getpwuid_r(sb->st_uid, &pw, room[0], sizeof room[0], &user) ||
        !user || pw.pw_gid != sb->st_gid ||
        getgrgid_r(sb->st_gid, &gr, room[1], sizeof room[1], &group) ||
        !group || strcmp(gr.gr_name, pw.pw_name) != 0)
        return 0;
    for (char **m = gr.gr_mem; *m; m++)
        if (strcmp(*m, pw.pw_name) != 0)
            return 0;
    return 1;
}

enum { NO_ONE, OWNER, WRITER };

/* Who else than you and root could change what sb is (a file, or a
 * directory's entries): NO_ONE, or OWNER or WRITER with "owned by ..."
 * or "writable by ..." in why. A sticky directory (such as /tmp) lets no
 * one rename or remove what is not theirs, so it may be writable by
 * others where it only lies on the way (not strict). */
static int changeable(const struct stat *sb, int strict, char *why,
                      size_t size)
{
    char who[160];
    if (sb->st_uid != 0 && sb->st_uid != geteuid()) {
        snprintf(why, size, "owned by %s, not by you or root",
                 user_text(sb->st_uid, who, sizeof who));
        return OWNER;
    }
    if (!strict && S_ISDIR(sb->st_mode) && (sb->st_mode & S_ISVTX))
        return NO_ONE;
    unsigned mode = (unsigned)(sb->st_mode & 07777);
    if (sb->st_mode & S_IWOTH) {
        snprintf(why, size, "writable by anyone (mode %04o)", mode);
        return WRITER;
    }
    if ((sb->st_mode & S_IWGRP) && !private_group(sb)) {
        struct group gr, *group = NULL;
        char room[8192];
        if (getgrgid_r(sb->st_gid, &gr, room, sizeof room, &group) == 0 &&
            group)
            snprintf(who, sizeof who, "group %s", gr.gr_name);
        else
            snprintf(who, sizeof who, "group %u", (unsigned)sb->st_gid);
        snprintf(why, size, "writable by %s (mode %04o)", who, mode);
        return WRITER;
    }
    return NO_ONE;
}

/* Refuses path (a plugin file) when dir, or a directory above it up to
 * /, can be changed by someone other than you and root; dir is the one
 * that holds it (strict), a real path. */
static pp_status check_dirs(const char *path, const char *dir, pp_error *err)
{
    char at[PATH_MAX];
    snprintf(at, sizeof at, "%s", dir);
    for (int strict = 1;; strict = 0) {
        struct stat sb;
        char why[256];
        if (stat(at, &sb) != 0)
            return pp_error_set(err, PP_ERR_PLUGIN, "%s: cannot read its "
                                "directory %s: %s", path, at,
                                strerror(errno));
        int who = changeable(&sb, strict, why, sizeof why);
        if (who != NO_ONE)
            return pp_error_set(err, PP_ERR_PLUGIN,
                "%s: its directory %s is %s: %s user could put code there "
                "that pipette would run%s%s", path, at, why,
                who == OWNER ? "that" : "another",
                who == WRITER ? "; chmod go-w " : "",
                who == WRITER ? at : "");
        char *slash = strrchr(at, '/');
        if (!slash || slash == at) {
            if (strcmp(at, "/") == 0)
                return PP_OK;
            at[1] = '\0'; /* the root, last */
        } else {
            *slash = '\0';
        }
    }
}

/* The directory part of path, made real, into out; 0 when it cannot be. */
static int real_dir(const char *path, char *out)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return realpath(dir, out) != NULL;
}

static const char *file_type(mode_t mode)
{
    return S_ISDIR(mode) ? "a directory" : S_ISFIFO(mode) ? "a FIFO"
         : S_ISSOCK(mode) ? "a socket" : S_ISCHR(mode) ? "a character device"
         : S_ISBLK(mode) ? "a block device" : "not a file";
}

#if __SIZEOF_POINTER__ == 8
#define NATIVE_CLASS ELFCLASS64
#else
#define NATIVE_CLASS ELFCLASS32
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_DATA ELFDATA2LSB
#else
#define NATIVE_DATA ELFDATA2MSB
#endif

/* A file dlopen would map: every part its program headers name must lie
 * inside it, or reading a page past its end kills the process (SIGBUS).
 * What is not this machine's ELF dlopen refuses from the header alone. */
static pp_status check_elf(int fd, const char *path, uint64_t size,
                           pp_error *err)
{
    ElfW(Ehdr) eh;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != NATIVE_CLASS ||
        eh.e_ident[EI_DATA] != NATIVE_DATA)
        return PP_OK;
    uint64_t need = (uint64_t)eh.e_phoff +
                    (uint64_t)eh.e_phnum * eh.e_phentsize;
    int bad = eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 ||
              eh.e_phnum == PN_XNUM || need > size;
    for (unsigned i = 0; !bad && i < eh.e_phnum; i++) {
        ElfW(Phdr) ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) !=
            (ssize_t)sizeof ph)
            return pp_error_set(err, PP_ERR_PLUGIN, "%s: cannot read: %s",
                                path, strerror(errno ? errno : EIO));
        bad = ph.p_offset > size || ph.p_filesz > size - ph.p_offset;
        if (bad)
            need = (uint64_t)ph.p_offset + ph.p_filesz;
    }
    if (bad)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: truncated or damaged: its ELF program headers describe "
            "%llu bytes, the file has %llu: rebuild or reinstall it",
            path, (unsigned long long)need, (unsigned long long)size);
    return PP_OK;
}

pp_status pp_plugin_file_check(const char *path, char **real, pp_error *err)
{
    *real = NULL;
    struct stat sb;
    char why[256];
    if (stat(path, &sb) != 0)
        return pp_error_set(err, PP_ERR_PLUGIN, "%s: cannot open: %s", path,
                            strerror(errno));
    /* Never opened: a FIFO would block, a device could do anything. */
    if (!S_ISREG(sb.st_mode))
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: %s, not a regular file: a plugin is a shared object file",
            path, file_type(sb.st_mode));
    char *full = realpath(path, NULL);
    char dir[PATH_MAX], given[PATH_MAX];
    if (!full)
        return pp_error_set(err, PP_ERR_PLUGIN, "%s: cannot open: %s", path,
                            strerror(errno));
    pp_status st = PP_OK;
    int who = changeable(&sb, 1, why, sizeof why);
    if (who != NO_ONE)
        st = pp_error_set(err, PP_ERR_PLUGIN,
            "%s: %s: %s user could change the code pipette would run%s%s",
            path, why, who == OWNER ? "that" : "another",
            who == WRITER ? "; chmod go-w " : "",
            who == WRITER ? path : "");
    /* The directories of the file itself and, where a link led there,
     * of the name it was found by. */
    if (!st && !real_dir(full, dir))
        st = pp_error_set(err, PP_ERR_PLUGIN, "%s: cannot open: %s", path,
                          strerror(errno));
    if (!st)
        st = check_dirs(path, dir, err);
    if (!st && real_dir(path, given) && strcmp(given, dir) != 0)
        st = check_dirs(path, given, err);
    int fd = st ? -1 : open(full, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
                                      O_NOCTTY);
    struct stat now;
    if (!st && fd < 0)
        st = pp_error_set(err, PP_ERR_PLUGIN, "%s: cannot open: %s", path,
                          strerror(errno));
    else if (!st && (fstat(fd, &now) != 0 || now.st_dev != sb.st_dev ||
                     now.st_ino != sb.st_ino || !S_ISREG(now.st_mode)))
        st = pp_error_set(err, PP_ERR_PLUGIN,
                          "%s: changed while it was being checked", path);
    if (!st)
        st = check_elf(fd, path, (uint64_t)now.st_size, err);
    if (fd >= 0)
        close(fd);
    if (st) {
        free(full);
        return st;
    }
    *real = full;
    return PP_OK;
}
