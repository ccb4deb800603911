/* reports.c - placeholder translation unit until the report writers land (issue 5). */
int rpt_reports_placeholder(void);
int rpt_reports_placeholder(void) { return 0; }
