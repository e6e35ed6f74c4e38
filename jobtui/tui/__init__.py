"""The dashboard (Textual): a thin app (:mod:`.app`) and what it is made of.

:mod:`.host` is how screens talk to the app (they read its state through a narrow interface
and ask for changes by message); :mod:`.operator` turns those requests into confirmed, audited
changes (:mod:`jobtui.actions`); :mod:`.commands` is the ``:`` command line, :mod:`.palette` the
command palette, :mod:`.keymap` the bindings' remapping and key-clash analysis, :mod:`.read_only`
the answer to a disabled key. Screens and widgets are in :mod:`.screens` and :mod:`.widgets`.
Only the CLI's dashboard command imports this package: Textual is loaded then and only then.
"""
