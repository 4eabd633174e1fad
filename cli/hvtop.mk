# hvtop: the dashboard (cli/hvtop.mk is its build rules)
