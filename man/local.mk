dist_man_MANS += man/hvd.8 man/hvctl.1 man/hvkit-cmdlets.7 man/hv-worker.8
