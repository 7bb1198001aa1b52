# Schedule plugins: one file each, NAME.c -> NAME.so, installed into
# $(pkglibdir)/schedules. common.h holds what several of them share.
schedule_LTLIBRARIES += \
	schedules/vanilla.la \
	schedules/gpipe.la \
	schedules/1f1b.la \
	schedules/interleaved.la \
	schedules/looped-bfs.la \
	schedules/zb-h1.la \
	schedules/zb-h2.la \
	schedules/zb-v.la

schedules_vanilla_la_SOURCES = schedules/vanilla.c schedules/common.h
schedules_vanilla_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
schedules_vanilla_la_LDFLAGS = $(PLUGIN_LDFLAGS)
schedules_vanilla_la_LIBADD = $(PLUGIN_LIBADD)

schedules_gpipe_la_SOURCES = schedules/gpipe.c schedules/common.h
schedules_gpipe_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
schedules_gpipe_la_LDFLAGS = $(PLUGIN_LDFLAGS)
schedules_gpipe_la_LIBADD = $(PLUGIN_LIBADD)

schedules_1f1b_la_SOURCES = schedules/1f1b.c schedules/common.h
schedules_1f1b_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
schedules_1f1b_la_LDFLAGS = $(PLUGIN_LDFLAGS)
schedules_1f1b_la_LIBADD = $(PLUGIN_LIBADD)

schedules_interleaved_la_SOURCES = schedules/interleaved.c schedules/common.h
schedules_interleaved_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
schedules_interleaved_la_LDFLAGS = $(PLUGIN_LDFLAGS)
schedules_interleaved_la_LIBADD = $(PLUGIN_LIBADD)

schedules_looped_bfs_la_SOURCES = schedules/looped-bfs.c schedules/common.h
schedules_looped_bfs_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
schedules_looped_bfs_la_LDFLAGS = $(PLUGIN_LDFLAGS)
schedules_looped_bfs_la_LIBADD = $(PLUGIN_LIBADD)

schedules_zb_h1_la_SOURCES = schedules/zb-h1.c schedules/common.h
schedules_zb_h1_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
schedules_zb_h1_la_LDFLAGS = $(PLUGIN_LDFLAGS)
schedules_zb_h1_la_LIBADD = $(PLUGIN_LIBADD)

schedules_zb_h2_la_SOURCES = schedules/zb-h2.c schedules/common.h
schedules_zb_h2_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
schedules_zb_h2_la_LDFLAGS = $(PLUGIN_LDFLAGS)
schedules_zb_h2_la_LIBADD = $(PLUGIN_LIBADD)

schedules_zb_v_la_SOURCES = schedules/zb-v.c schedules/common.h
schedules_zb_v_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
schedules_zb_v_la_LDFLAGS = $(PLUGIN_LDFLAGS)
schedules_zb_v_la_LIBADD = $(PLUGIN_LIBADD)
