/* migrations.h - the schema migrations embedded from schemas/ at build time. */
#ifndef ENG_MIGRATIONS_H
#define ENG_MIGRATIONS_H

typedef struct eng_migration {
	int version;      /* 1, 2, ...: PRAGMA user_version after applying it */
	const char *name; /* file name, e.g. 0001_init.sql */
	const char *sql;
} eng_migration;

extern const eng_migration eng_migrations[];
extern const int eng_migrations_count;

#endif
