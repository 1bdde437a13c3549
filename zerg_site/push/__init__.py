"""Web Push: the owner's devices subscribe from Settings and hear about finished commis,
interrupts, failed schedules and Oikos replies while no page is open."""
