import { packageBuild } from '../../tsup.config.base.js'

// The `iicp` bin (shebang kept, made executable by tsup) plus the small library entry; code splitting keeps each
// command in its own chunk, loaded only when that command runs.
export default packageBuild({ entry: ['src/bin.ts', 'src/index.ts'], dts: { entry: 'src/index.ts' }, splitting: true })
