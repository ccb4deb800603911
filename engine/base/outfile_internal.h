/* outfile_internal.h - the fault hook of outfile.c, for tests only. */
#ifndef ENG_OUTFILE_INTERNAL_H
#define ENG_OUTFILE_INTERNAL_H

/* What eng_out_commit renames with; rename(2) unless a test makes it fail. */
extern int (*eng_out_rename_hook)(const char *from, const char *to);

#endif
