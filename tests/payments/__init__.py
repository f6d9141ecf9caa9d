"""Online payments: test provider, Mollie and Stripe against local servers."""
