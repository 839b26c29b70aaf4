/**
 * Type-level checks of the public API (checked by tsc, not run): runConformance's options and report,
 * the result documents' literal fields, and the SdkUnderTest seam.
 */
import { expectTypeOf } from 'vitest'
import type { IicpClient } from '@iicp/client'
import type { Command } from 'commander'
import { conformanceCommand, resultDocuments, runConformance } from '../src/index.js'
import type { CheckStatus, ConformanceOptions, ConformanceReport, ResultDocument, SdkUnderTest } from '../src/index.js'

expectTypeOf(runConformance).parameter(0).toEqualTypeOf<ConformanceOptions | undefined>()
expectTypeOf(runConformance).returns.resolves.toEqualTypeOf<ConformanceReport>()
expectTypeOf<ConformanceReport['results'][number]['status']>().toEqualTypeOf<CheckStatus>()
expectTypeOf<CheckStatus>().toEqualTypeOf<'pass' | 'fail' | 'skip'>()
expectTypeOf(resultDocuments).returns.toEqualTypeOf<ResultDocument[]>()
expectTypeOf<ResultDocument['schema']>().toEqualTypeOf<'iicp.conformance_result.v1'>()
expectTypeOf<ResultDocument['content_free']>().toEqualTypeOf<true>()
expectTypeOf<ResultDocument['results'][number]['outcome']>().toEqualTypeOf<'pass' | 'fail'>()
expectTypeOf<ReturnType<SdkUnderTest['createClient']>>().toEqualTypeOf<IicpClient>()
expectTypeOf(conformanceCommand).returns.toEqualTypeOf<Command>()
