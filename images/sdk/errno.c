/* errno.c - the SDK libc's errno (an archive member of its own, so a
 * program that defines errno itself links too). */
int errno;
