import { packageBuild } from '../../tsup.config.base.js'

// main.ts is the runnable entry (dist/main.js); index.ts the library API apps/cli mounts.
export default packageBuild({ entry: ['src/index.ts', 'src/main.ts'] })
