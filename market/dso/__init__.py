"""The DSO gateway behind ``flexmarket dso run``: its config (``config``) and its loop
(``gateway``), a long-running process over the participant library and the DSO agent."""
