"""Completion events: the outbox in the output store (``outbox``), the ways out (``targets``) and
the thread that delivers them without ever holding up a conversion (``notifier``)."""
