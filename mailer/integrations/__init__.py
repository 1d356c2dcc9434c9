"""mailer behind other frameworks' own mail interfaces: ``mailer.integrations.django``."""
