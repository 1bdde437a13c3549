import { Placeholder } from './Placeholder';

export const Schedules = () => (
  <Placeholder title="Schedules">Recurring jobs: create, pause and inspect the schedules that start commis automatically.</Placeholder>
);
