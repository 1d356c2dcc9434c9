"""mailer: transactional email and notifications, sent in the background."""
