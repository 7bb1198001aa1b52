# Manual pages.
dist_man_MANS += docs/pipette.ini.5
dist_man_MANS += docs/pipette.1
dist_doc_DATA += docs/writing-a-schedule.md docs/writing-a-layer.md \
	docs/processes.md docs/testing.md
