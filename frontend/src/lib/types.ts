/** The services' payloads, as far as the dashboard reads them. */

export interface Privilege {
  level: number;
  id: string;
  access?: string | null;
}

export interface Profile {
  username: string;
  clientid: string;
  managers: Privilege[];
  prosumers: Privilege[];
  consumers: string[];
  last_login: string | null;
}

export interface Battery {
  capacity: number;
  maxOutput: number;
  maxCharge: number;
  current: number;
}

export type Source = "own" | "battery" | "market" | "none" | string;

export interface ProsumerState {
  id: string;
  name: string;
  turbines: number[];
  batteries: Battery[];
  input_ratio: number;
  output_ratio: number;
  status: boolean;
  lat: number | null;
  lon: number | null;
  blocked_until: string | null;
  wind_speed_ms: number;
  production_kw: number;
  load_kw: number;
  net_kw: number;
  battery_charge_kw: number;
  battery_discharge_kw: number;
  sold_kw: number;
  bought_kw: number;
  curtailed_kw: number;
  stored_kwh: number;
  capacity_kwh: number;
  source: Source;
  blackout: boolean;
  broken: boolean;
  price_sek_per_kwh: number;
}

export interface ProsumerControl {
  input_ratio: number;
  output_ratio: number;
  status: boolean;
}

export interface OnlineStatus {
  prosumer_id: string;
  clientid: string;
  username: string;
  online: boolean;
  last_login: string | null;
  last_seen: string | null;
}

export type PlantState = "stopped" | "starting" | "running" | "stopping";

export interface Plant {
  id: string;
  name: string;
  current: number;
  maxProduction: number;
  status: boolean;
  state: PlantState;
  state_seconds: number;
  ratio: number;
  buffer: Battery;
  buffer_ratio: number;
  startup_seconds: number;
  offered_kw: number;
  accepted_kw: number;
  buffer_charge_kw: number;
  buffer_discharge_kw: number;
  co2_kg_per_h: number;
  co2_total_kg: number;
  marginal_cost_sek_per_kwh: number;
  stale: boolean;
}

export interface PlantsEvent {
  time: string;
  plants: Plant[];
}

export interface PriceReport {
  price: number;
  modelled_price: number;
  override: number | null;
  time: string;
  scarcity: boolean;
  stale: boolean;
  stale_cells: string[];
  stats: { totalDemand: number; totalProduction: number };
  note: string | null;
}

export interface GridTotals {
  time: string | number;
  totalProduction: number;
  totalDemand: number;
  prosumer_production_kw: number;
  plant_production_kw: number;
  consumer_demand_kw: number;
  unserved_kw: number;
  co2_kg_per_h: number;
  blackout_consumers?: string[];
  blackout_prosumers?: string[];
}

export interface Cluster {
  id: string;
  households: number;
  demand: number;
  blackout: boolean;
  profile: number;
}

export interface ProsumerTotals {
  time: string;
  members: number;
  production_kw: number;
  load_kw: number;
  sold_kw: number;
  bought_kw: number;
  blackouts: number;
  blocked: number;
}
