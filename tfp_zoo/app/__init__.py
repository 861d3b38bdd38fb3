"""The application layer: what presents the library to a user (launcher
plumbing, generated docs tables). Nothing in the library imports it."""
