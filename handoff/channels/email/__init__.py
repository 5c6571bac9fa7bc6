"""Email channel (see docs/email.md).

Outbound, `compose` builds an agent's reply as an email in the customer's language whose Reply-To is the
ticket's signed reply address (`tokens`), and `outbox.Outbox` queues it in Redis and delivers it over SMTP
with retries; what could not be delivered stays listed as failed for the ticket. Inbound, `inbound` turns
a customer's emailed reply into its ticket id and the new text, whether it arrives from a provider's inbound
webhook or from `smtp_server`, the optional receiver for the reply domain. `settings` reads the environment
(the channel is off without SMTP_HOST).
"""
