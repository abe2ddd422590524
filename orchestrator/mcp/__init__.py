"""The MCP tool plane (DESIGN §14): servers, the manager, the step API and OAuth tokens."""
