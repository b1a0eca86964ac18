"""Date and time formats for the admin (FORMAT_MODULE_PATH): one format everywhere, as the command's lines."""
