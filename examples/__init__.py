"""Example tasks for queuecore and jobtui (``jobtui work examples.tasks``)."""
