"""Mail handling in the pure core: parsing raw mail into an Inbound (`mailbot.mail.parse`)."""
