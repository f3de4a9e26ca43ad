"""What the BFF is configured with: settings, the downstream services, their discovery, locales, the pages'
declarations and how each AWS client is bounded."""
