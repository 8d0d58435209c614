import { startService } from '@platform/service-kit';
import { definition } from './app';

startService(definition);
