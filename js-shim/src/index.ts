// The plugin module, one entry for both hosts (OpenCode 2 reads `setup`,
// OpenCode 1 calls `server`; OpenCode 1.18 also calls `setup` with a preview
// context, where it does nothing). The module has a default export and
// nothing else: OpenCode rejects a plugin module with any other export.

import { server } from "./host1.js";
import { setup } from "./host2.js";

export default { id: "@vymalo/opencode-oauth2", server, setup };
